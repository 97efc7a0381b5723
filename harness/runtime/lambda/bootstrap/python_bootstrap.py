"""
The python runtime's bootstrap: stdlib only. Imports the handler (`module.function`, a module
path may use '/') from LAMBDA_TASK_ROOT and serves invocations from the Lambda Runtime API
(AWS_LAMBDA_RUNTIME_API) one at a time, as Lambda's Python runtime does: the context object,
errors as {errorMessage, errorType, requestId, stackTrace}, init failures posted to
/runtime/init/error (Runtime.ImportModuleError, Runtime.UserCodeSyntaxError,
Runtime.HandlerNotFound, Runtime.MalformedHandlerName), and log records in Lambda's format.

Multi-line log records are written with '\r' for each newline so that one record stays one line
on stdout; the harness turns them back into one CloudWatch event with newlines.
"""
import decimal
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

RUNTIME_API = os.environ["AWS_LAMBDA_RUNTIME_API"]
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
HANDLER = os.environ.get("_HANDLER", "")
BASE = "/2018-06-01/runtime"

_request_id = ""


def _conn():
    host, _, port = RUNTIME_API.partition(":")
    return http.client.HTTPConnection(host, int(port or 80), timeout=None)


_client = None


def _request(method, path, body=None, headers=None):
    global _client
    for attempt in range(2):
        try:
            if _client is None:
                _client = _conn()
            _client.request(method, path, body=body, headers=headers or {})
            resp = _client.getresponse()
            data = resp.read()
            return resp, data
        except (ConnectionError, http.client.HTTPException, OSError):
            _client = None
            if attempt == 1:
                raise


def _one_line(text):
    return text.replace("\r\n", "\n").rstrip("\n").replace("\n", "\r")


def _write(text):
    sys.stdout.write(_one_line(text) + "\n")
    sys.stdout.flush()


class _LambdaLogHandler(logging.Handler):
    def emit(self, record):
        try:
            _write(self.format(record))
        except Exception:
            self.handleError(record)


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


def _install_logging():
    handler = _LambdaLogHandler()
    fmt = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())


def _stack(tb_list):
    return [line for line in traceback.format_list(tb_list)]


class _Fault(Exception):
    def __init__(self, error_type, message, stack=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack = stack or []


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    modname = modname.replace("/", ".")
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [TASK_ROOT] + [p for p in sys.path if p not in (here, TASK_ROOT)]
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        stack = ['  File "%s" Line %s\n    %s\n' % (e.filename, e.lineno, (e.text or "").strip())]
        raise _Fault(
            "Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e), stack
        )
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        raise _Fault(type(e).__name__, str(e), _stack(tb))
    fn = getattr(module, fname, None)
    if fn is None:
        raise _Fault(
            "Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname)
        )
    return fn


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = arn
        self.client_context = client_context
        self.identity = identity
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return "LambdaContext([aws_request_id=%s,function_name=%s,function_version=%s])" % (
            self.aws_request_id,
            self.function_name,
            self.function_version,
        )


class _ClientContext:
    def __init__(self, raw):
        self.client = raw.get("client")
        self.custom = raw.get("custom")
        self.env = raw.get("env")


def _decimal(o):
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError("Object of type %s is not JSON serializable" % type(o).__name__)


def _error_body(error_type, message, stack, request_id=""):
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}
    ).encode()


def _post_error(path, error_type, message, stack, request_id=""):
    body = _error_body(error_type, message, stack, request_id)
    _request(
        "POST",
        path,
        body,
        {"Content-Type": "application/json", "Lambda-Runtime-Function-Error-Type": error_type},
    )


def _log_error(error_type, message, stack):
    text = "[ERROR] %s: %s" % (error_type, message)
    if stack:
        text += "\nTraceback (most recent call last):\n" + "".join(stack)
    _write(text)


def main():
    global _request_id
    os.chdir(TASK_ROOT)
    _install_logging()
    try:
        handler = _load_handler(HANDLER)
    except _Fault as f:
        _log_error(f.error_type, f.message, f.stack)
        _post_error(BASE + "/init/error", f.error_type, f.message, f.stack)
        sys.exit(1)
    while True:
        resp, data = _request("GET", BASE + "/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id", "")
        _request_id = request_id
        deadline = int(resp.getheader("Lambda-Runtime-Deadline-Ms", "0") or 0)
        arn = resp.getheader("Lambda-Runtime-Invoked-Function-Arn")
        trace_id = resp.getheader("Lambda-Runtime-Trace-Id")
        if trace_id:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        raw_cc = resp.getheader("Lambda-Runtime-Client-Context")
        raw_identity = resp.getheader("Lambda-Runtime-Cognito-Identity")
        client_context = _ClientContext(json.loads(raw_cc)) if raw_cc else None
        identity = json.loads(raw_identity) if raw_identity else None
        context = LambdaContext(request_id, deadline, arn, client_context, identity)
        try:
            event = json.loads(data) if data else {}
        except ValueError as e:
            _post_error(
                BASE + "/invocation/%s/error" % request_id,
                "Runtime.UnmarshalError",
                "Unable to unmarshal input: %s" % e,
                [],
                request_id,
            )
            continue
        try:
            result = handler(event, context)
        except Exception as e:
            etype, value, tb = sys.exc_info()
            stack = _stack(traceback.extract_tb(tb)[1:])
            _log_error(etype.__name__, str(value), stack)
            _post_error(
                BASE + "/invocation/%s/error" % request_id, etype.__name__, str(value), stack, request_id
            )
            continue
        try:
            body = json.dumps(result, default=_decimal).encode()
        except (TypeError, ValueError) as e:
            message = "Unable to marshal response: %s" % e
            _log_error("Runtime.MarshalError", message, [])
            _post_error(
                BASE + "/invocation/%s/error" % request_id, "Runtime.MarshalError", message, [], request_id
            )
            continue
        _request(
            "POST",
            BASE + "/invocation/%s/response" % request_id,
            body,
            {"Content-Type": "application/json"},
        )


if __name__ == "__main__":
    main()

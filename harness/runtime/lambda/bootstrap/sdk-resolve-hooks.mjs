/** Resolve hooks for sdk-resolve.mjs (run on Node's loader thread). */
let fallbackParent;
let taskRootURL;
let sdkURL;

export function initialize(data) {
  fallbackParent = data?.parentURL;
  taskRootURL = data?.taskRootURL;
  sdkURL = data?.sdkURL;
}

const isBare = (s) => !/^(?:[a-z][a-z0-9+.-]*:|\.{0,2}\/|#)/i.test(s);

function notFound(specifier, parentURL) {
  const from = parentURL?.startsWith('file:') ? decodeURIComponent(new URL(parentURL).pathname) : parentURL;
  const e = new Error(`Cannot find package '${specifier}' imported from ${from}`);
  e.code = 'ERR_MODULE_NOT_FOUND';
  return e;
}

/** a package the function's own code resolved from outside its code dir (not the SDK) */
function outside(specifier, parentURL, url) {
  return (
    !!taskRootURL &&
    isBare(specifier) &&
    !!parentURL?.startsWith(taskRootURL) &&
    url.startsWith('file:') &&
    !url.startsWith(taskRootURL) &&
    !(sdkURL && url.startsWith(sdkURL))
  );
}

export async function resolve(specifier, context, nextResolve) {
  let resolved;
  try {
    resolved = await nextResolve(specifier, context);
  } catch (e) {
    if (!fallbackParent || e?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier) || context.parentURL === fallbackParent) throw e;
    try {
      return await nextResolve(specifier, { ...context, parentURL: fallbackParent });
    } catch {
      throw e;
    }
  }
  if (outside(specifier, context.parentURL, resolved.url)) {
    // the SDK from the layer, as on Lambda; anything else is not there
    if (specifier.startsWith('@aws-sdk/')) {
      try {
        return await nextResolve(specifier, { ...context, parentURL: fallbackParent });
      } catch {
        // fall through
      }
    }
    throw notFound(specifier, context.parentURL);
  }
  return resolved;
}

/**
 * The ECR registry endpoint (`<account>.dkr.ecr.<region>.amazonaws.com`) in front of a plain OCI
 * Distribution registry: it checks the `docker login` password GetAuthorizationToken issued,
 * applies ECR's rules the registry does not know (the repository must exist in ECR, an IMMUTABLE
 * repository keeps its tags), proxies blobs as they are, and keeps the EcrStore exactly in step
 * with what was pushed: a manifest PUT the registry accepted is in the store before the client
 * hears 201. Tags and digests are answered from the store, so what DescribeImages says and what
 * `docker pull` gets never differ; the registry only holds the bytes.
 *
 * The ECR API calls that change images (PutImage, BatchDeleteImage) come through here too
 * ({@link EcrRegistryBackend}), serialized per repository with the pushes.
 */
import http from 'node:http';
import { AwsError } from '../protocol/errors.ts';
import type { EventSink } from '../protocol/types.ts';
import { ecrErrors, type ImageIdentifier } from './errors.ts';
import { type EcrImage, type EcrRegistryBackend, type EcrStore } from './store.ts';
import { isIndexMediaType, MediaTypes, parsePlatform, type ImagePlatform } from './manifest.ts';

/** ECR's limit on a manifest's size (and the OCI distribution spec's recommended minimum). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const MANIFEST_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerManifest, MediaTypes.dockerManifestList, MediaTypes.ociManifest, MediaTypes.ociIndex]);
const CONFIG_TYPES: ReadonlySet<string> = new Set([MediaTypes.dockerConfig, MediaTypes.ociConfig]);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'authorization']);
/** `/v2/<name>/(manifests/<ref>|blobs/<digest>|blobs/uploads/[<id>]|tags/list)`; the name may hold slashes */
const ROUTE = /^\/v2\/(.+)\/(manifests\/[^/]+|blobs\/uploads\/?[^/]*|blobs\/[^/]+|tags\/list)$/;

export interface EcrRegistryFrontOptions {
  store: EcrStore;
  /** the registry's base URL, e.g. http://127.0.0.1:45123 */
  upstream: string;
  /** the ECR host name (the Basic realm names it) */
  host: string;
  log?: (line: string) => void;
  events?: EventSink;
}

interface RegistryError {
  status: number;
  code: string;
  message: string;
}

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export class EcrRegistryFront implements EcrRegistryBackend {
  private readonly store: EcrStore;
  private readonly upstream: URL;
  private readonly host: string;
  private readonly log: (line: string) => void;
  private readonly events?: EventSink;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  /** per repository: manifest changes (pushes and API calls) one at a time */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(o: EcrRegistryFrontOptions) {
    this.store = o.store;
    this.upstream = new URL(o.upstream);
    this.host = o.host;
    this.log = o.log ?? (() => {});
    this.events = o.events;
  }

  close(): void {
    this.agent.destroy();
  }

  /** The HTTP(S) request handler of the ECR registry endpoint. */
  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.setHeader('Docker-Distribution-Api-Version', 'registry/2.0');
    this.route(req, res).catch((e: Error) => {
      this.log(`ECR registry: ${req.method} ${req.url}: ${e.message}`);
      if (!res.headersSent) sendError(res, { status: 500, code: 'UNKNOWN', message: `internal error: ${e.message}` });
      else res.destroy();
    });
  };

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = this.authenticate(req.headers.authorization);
    if (auth) {
      req.resume();
      res.setHeader('WWW-Authenticate', `Basic realm="https://${this.host}/",service="ecr.amazonaws.com"`);
      return sendError(res, auth);
    }
    const method = req.method ?? 'GET';
    if (url.pathname === '/v2/' || url.pathname === '/v2') return this.proxy(req, res, '/v2/');
    if (url.pathname === '/v2/_catalog') {
      req.resume();
      return sendJson(res, 200, { repositories: this.store.listRepositories().map((r) => r.name).sort() });
    }
    const m = ROUTE.exec(url.pathname);
    if (!m) {
      req.resume();
      return sendError(res, { status: 404, code: 'UNSUPPORTED', message: `The operation is unsupported: ${method} ${url.pathname}` });
    }
    const name = m[1]!;
    const rest = m[2]!;
    if (!this.store.hasRepository(name)) {
      req.resume();
      return sendError(res, nameUnknown(name, this.store.account));
    }
    if (rest === 'tags/list') {
      req.resume();
      const tags = [...new Set(this.store.listImages(name).flatMap((i) => i.tags))].sort();
      return sendJson(res, 200, { name, tags });
    }
    if (rest.startsWith('manifests/')) {
      const ref = decodeURIComponent(rest.slice('manifests/'.length));
      if (method === 'GET' || method === 'HEAD') return this.getManifest(req, res, name, ref);
      if (method === 'PUT') return this.putManifest(req, res, name, ref);
      if (method === 'DELETE') return this.deleteManifest(req, res, name, ref);
      req.resume();
      return sendError(res, { status: 405, code: 'UNSUPPORTED', message: `The operation is unsupported: ${method} manifests` });
    }
    // blobs and uploads: the registry's, byte for byte
    return this.proxy(req, res, `${url.pathname}${url.search}`);
  }

  /** undefined when the request carries a password this store issued (user AWS), else the 401. */
  private authenticate(header: string | undefined): RegistryError | undefined {
    const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return { status: 401, code: 'UNAUTHORIZED', message: 'Not Authorized' };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const user = colon >= 0 ? decoded.slice(0, colon) : decoded;
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    const state = user === 'AWS' ? this.store.checkAuthorizationToken(password) : 'unknown';
    if (state === 'valid') return undefined;
    if (state === 'expired') return { status: 401, code: 'DENIED', message: 'Your authorization token has expired. Reauthenticate and try again.' };
    return {
      status: 401,
      code: 'DENIED',
      message: `Your authorization token is not valid for this registry: log in with \`aws ecr get-login-password | docker login --username AWS --password-stdin ${this.host}\``,
    };
  }

  private async getManifest(req: http.IncomingMessage, res: http.ServerResponse, name: string, ref: string): Promise<void> {
    const id: ImageIdentifier = ref.includes(':') ? { imageDigest: ref } : { imageTag: ref };
    const image = this.store.findImage(name, id);
    if (!image) {
      req.resume();
      return sendError(res, manifestUnknown(name, ref));
    }
    // by digest at the registry: the store says which digest a tag means
    return this.proxy(req, res, `/v2/${name}/manifests/${image.digest}`);
  }

  private async putManifest(req: http.IncomingMessage, res: http.ServerResponse, name: string, ref: string): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req, MAX_MANIFEST_BYTES);
    } catch (e) {
      return sendError(res, { status: 400, code: 'MANIFEST_INVALID', message: (e as Error).message });
    }
    const text = body.toString('utf8');
    const isDigest = ref.startsWith('sha256:');
    const tag = isDigest ? undefined : ref;
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const mediaType = MANIFEST_TYPES.has(contentType) ? contentType : undefined;
    await this.serialize(name, async () => {
      let checked: ReturnType<EcrStore['checkPutImage']>;
      try {
        checked = this.store.checkPutImage(name, text, mediaType, tag, { imageDigest: isDigest ? ref : undefined, push: true });
      } catch (e) {
        return sendError(res, pushError(e as AwsError, name, ref, this.store.account));
      }
      const up = await this.upstreamCall('PUT', `/v2/${name}/manifests/${encodeURIComponent(ref)}`, { 'content-type': contentType || checked.mediaType }, body);
      if (up.status !== 201) return relay(res, up);
      const digest = String(up.headers['docker-content-digest'] ?? checked.digest);
      if (digest !== checked.digest) this.log(`ECR registry: ${name}:${ref}: the registry's digest ${digest} is not the digest of the bytes ${checked.digest}`);
      const platforms = await this.configPlatforms(name, checked.mediaType, checked.manifest);
      const img = this.store.putImage(name, text, mediaType, tag, { imageDigest: isDigest ? ref : undefined, registry: { platforms } });
      this.events?.append('ecr.image.pushed', { repositoryName: name, imageDigest: img.digest, imageTag: tag, mediaType: img.mediaType, sizeInBytes: img.sizeInBytes });
      res.statusCode = 201;
      if (up.headers.location) res.setHeader('Location', up.headers.location);
      res.setHeader('Docker-Content-Digest', img.digest);
      res.setHeader('Content-Length', '0');
      res.end();
    });
  }

  private async deleteManifest(req: http.IncomingMessage, res: http.ServerResponse, name: string, ref: string): Promise<void> {
    req.resume();
    if (!ref.startsWith('sha256:')) return sendError(res, { status: 400, code: 'UNSUPPORTED', message: 'Deleting a manifest by tag is unsupported: delete it by digest, or untag with aws ecr batch-delete-image' });
    const image = this.store.findImage(name, { imageDigest: ref });
    if (!image) return sendError(res, manifestUnknown(name, ref));
    const lists = this.store.indexesReferencing(name, ref);
    if (lists.length) return sendError(res, { status: 409, code: 'DENIED', message: `Requested image referenced by manifest list: [${lists.join(', ')}]` });
    try {
      await this.deleteImage(name, { imageDigest: ref });
    } catch (e) {
      return sendError(res, { status: 500, code: 'UNKNOWN', message: (e as Error).message });
    }
    res.statusCode = 202;
    res.setHeader('Content-Length', '0');
    res.end();
  }

  // ------------------------------------------------------------------ the ECR API's image changes

  /** PutImage: the manifest goes to the registry (under its tag, or by digest), then to the store. */
  putImage(repoName: string, manifestJson: string, mediaType: string | undefined, tag: string | undefined, opts: { imageDigest?: string }): Promise<EcrImage> {
    return this.serialize(repoName, async () => {
      const checked = this.store.checkPutImage(repoName, manifestJson, mediaType, tag, { imageDigest: opts.imageDigest });
      const ref = tag ?? checked.digest;
      const up = await this.upstreamCall('PUT', `/v2/${repoName}/manifests/${encodeURIComponent(ref)}`, { 'content-type': checked.mediaType }, Buffer.from(manifestJson, 'utf8'));
      if (up.status !== 201) throw apiError(up, isIndexMediaType(checked.mediaType));
      const platforms = await this.configPlatforms(repoName, checked.mediaType, checked.manifest);
      return this.store.putImage(repoName, manifestJson, mediaType, tag, { imageDigest: opts.imageDigest, registry: { platforms } });
    });
  }

  /**
   * One BatchDeleteImage identifier: when the image goes (by digest, or its last tag) its
   * manifest is deleted at the registry (with every tag there); a tag-only delete is the
   * store's alone (the registry's tags are never read: the store says what a tag means).
   */
  deleteImage(repoName: string, id: ImageIdentifier): Promise<ImageIdentifier[] | undefined> {
    return this.serialize(repoName, async () => {
      const image = this.store.findImage(repoName, id);
      if (!image) return undefined;
      const goes = id.imageDigest !== undefined || image.tags.length <= 1;
      if (goes && image.source === 'registry') {
        const up = await this.upstreamCall('DELETE', `/v2/${repoName}/manifests/${image.digest}`, {});
        // 404: the registry lost it (its storage was wiped): gone is gone
        if (up.status !== 202 && up.status !== 404) throw new Error(`the registry refused to delete ${repoName}@${image.digest}: ${up.status} ${up.body.toString('utf8').slice(0, 300)}`);
      }
      return this.store.deleteImage(repoName, id);
    });
  }

  // ------------------------------------------------------------------ helpers

  private serialize<T>(repo: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(repo) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => {});
    this.queues.set(repo, tail);
    void tail.then(() => {
      if (this.queues.get(repo) === tail) this.queues.delete(repo);
    });
    return run;
  }

  /** A single image manifest's platform, read from its config blob at the registry ([] if it has none). */
  private async configPlatforms(repo: string, mediaType: string, manifest: Record<string, unknown>): Promise<ImagePlatform[]> {
    if (isIndexMediaType(mediaType)) return [];
    const config = manifest.config as { mediaType?: unknown; digest?: unknown } | undefined;
    if (!config || typeof config.digest !== 'string' || !CONFIG_TYPES.has(String(config.mediaType))) return [];
    try {
      const up = await this.upstreamCall('GET', `/v2/${repo}/blobs/${config.digest}`, {});
      if (up.status !== 200) return [];
      const c = JSON.parse(up.body.toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown };
      if (typeof c.os !== 'string' || typeof c.architecture !== 'string') return [];
      return [parsePlatform({ os: c.os, architecture: c.architecture, variant: typeof c.variant === 'string' && c.variant ? c.variant : undefined })];
    } catch (e) {
      this.log(`ECR registry: cannot read the config blob ${config.digest} of ${repo}: ${(e as Error).message}`);
      return [];
    }
  }

  private upstreamCall(method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer): Promise<Upstream> {
    return new Promise((resolve, reject) => {
      const r = http.request(
        { host: this.upstream.hostname, port: this.upstream.port, method, path: pathAndQuery, agent: this.agent, headers: { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
        (resp) => {
          const chunks: Buffer[] = [];
          resp.on('data', (c: Buffer) => chunks.push(c));
          resp.on('end', () => resolve({ status: resp.statusCode ?? 502, headers: resp.headers, body: Buffer.concat(chunks) }));
          resp.on('error', reject);
        },
      );
      r.on('error', (e) => reject(new Error(`the registry at ${this.upstream.host} does not answer: ${e.message}`)));
      r.end(body);
    });
  }

  /** Streams a request to the registry and its answer back (blobs, uploads, manifests by digest). */
  private proxy(req: http.IncomingMessage, res: http.ServerResponse, pathAndQuery: string): Promise<void> {
    return new Promise((resolve) => {
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      const up = http.request({ host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: pathAndQuery, agent: this.agent, headers }, (resp) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(resp.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
        res.writeHead(resp.statusCode ?? 502, out);
        resp.pipe(res);
        resp.on('end', () => resolve());
        resp.on('error', () => {
          res.destroy();
          resolve();
        });
      });
      up.on('error', (e) => {
        if (!res.headersSent) sendError(res, { status: 502, code: 'UNAVAILABLE', message: `the registry does not answer: ${e.message}` });
        else res.destroy();
        resolve();
      });
      res.on('close', () => {
        if (!res.writableFinished) up.destroy();
      });
      if (req.method === 'GET' || req.method === 'HEAD' || req.readableEnded) {
        req.resume();
        up.end();
      } else req.pipe(up);
    });
  }
}

function nameUnknown(name: string, account: string): RegistryError {
  return { status: 404, code: 'NAME_UNKNOWN', message: `The repository with name '${name}' does not exist in the registry with id '${account}'` };
}

function manifestUnknown(name: string, ref: string): RegistryError {
  return { status: 404, code: 'MANIFEST_UNKNOWN', message: `Requested image not found: ${name}:${ref}` };
}

/** A store refusal of a `docker push`, as ECR's registry endpoint words it. */
function pushError(e: AwsError, name: string, ref: string, account: string): RegistryError {
  const code = (e as { code?: string }).code;
  if (code === 'RepositoryNotFoundException') return nameUnknown(name, account);
  if (code === 'ImageTagAlreadyExistsException') {
    return { status: 400, code: 'TAG_INVALID', message: `The image tag '${ref}' already exists in the '${name}' repository and cannot be overwritten because the repository is immutable.` };
  }
  if (code === 'ImageDigestDoesNotMatchException') return { status: 400, code: 'DIGEST_INVALID', message: e.message };
  if (code === 'InvalidParameterException' && /imageTag/.test(e.message)) return { status: 400, code: 'TAG_INVALID', message: e.message };
  if (code === 'InvalidParameterException') return { status: 400, code: 'MANIFEST_INVALID', message: e.message };
  throw e;
}

/** A registry refusal of PutImage's manifest, as the ECR API words it. */
function apiError(up: Upstream, index: boolean): Error {
  let first: { code?: string; message?: string; detail?: unknown } = {};
  try {
    first = (JSON.parse(up.body.toString('utf8')) as { errors?: (typeof first)[] }).errors?.[0] ?? {};
  } catch {
    /* not a registry error body */
  }
  if (first.code === 'MANIFEST_BLOB_UNKNOWN' || first.code === 'BLOB_UNKNOWN' || first.code === 'MANIFEST_UNKNOWN') {
    return index
      ? errorNamed('ReferencedImagesNotFoundException', 'The manifest list is referencing an image that does not exist.')
      : errorNamed('LayersNotFoundException', `The specified layers could not be found, or the specified layer is not valid for this repository. (${describeDetail(first)})`);
  }
  if (first.code === 'MANIFEST_INVALID' || first.code === 'TAG_INVALID' || first.code === 'DIGEST_INVALID') {
    return ecrErrors.invalidParameter(`Invalid parameter at 'ImageManifest' failed to satisfy constraint: '${first.message ?? first.code}'`);
  }
  return errorNamed('ServerException', `the registry refused the manifest: ${up.status} ${first.code ?? ''} ${first.message ?? up.body.toString('utf8').slice(0, 200)}`.trim());
}

function describeDetail(e: { message?: string; detail?: unknown }): string {
  const d = e.detail as { digest?: string } | string | undefined;
  return typeof d === 'object' && d?.digest ? `missing ${d.digest}` : (e.message ?? 'blob unknown');
}

function errorNamed(code: string, message: string): AwsError {
  return new AwsError(code, message, code === 'ServerException' ? 500 : 400);
}

function sendError(res: http.ServerResponse, e: RegistryError): void {
  sendJson(res, e.status, { errors: [{ code: e.code, message: e.message, detail: null }] });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  res.end(text);
}

function relay(res: http.ServerResponse, up: Upstream): void {
  res.statusCode = up.status;
  for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && k !== 'content-length' && v !== undefined) res.setHeader(k, v);
  res.setHeader('Content-Length', String(up.body.length));
  res.end(up.body);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= limit) chunks.push(c);
    });
    req.on('end', () => (n > limit ? reject(new Error(`manifest of ${n} bytes: larger than ${limit} bytes`)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}


/** Resolve hooks for sdk-resolve.mjs (run on Node's loader thread). */
let fallbackParent;

export function initialize(data) {
  fallbackParent = data?.parentURL;
}

const isBare = (s) => !/^(?:[a-z][a-z0-9+.-]*:|\.{0,2}\/|#)/i.test(s);

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (e) {
    if (!fallbackParent || e?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier) || context.parentURL === fallbackParent) throw e;
    try {
      return await nextResolve(specifier, { ...context, parentURL: fallbackParent });
    } catch {
      throw e;
    }
  }
}

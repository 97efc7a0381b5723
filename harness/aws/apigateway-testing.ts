/** For the API Gateway stores' tests: what `fn` throws as `<code> <status>: <message>`, or `no error`. */
export const thrownBy = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    return `${(e as { code?: string }).code} ${(e as { statusCode?: number }).statusCode}: ${(e as Error).message}`;
  }
  return 'no error';
};

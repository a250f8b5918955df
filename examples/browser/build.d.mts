/** buildBrowserExample bundles the browser example into `outdir` (default examples/browser/dist) and resolves to it. */
export function buildBrowserExample(options?: { outdir?: string; minify?: boolean }): Promise<string>;

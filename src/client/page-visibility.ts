/**
 * VisibilitySource tells whether the page is in front of the user. Browsers
 * throttle the timers of hidden pages (in Chrome to once a minute, or freeze
 * them), so a token source suspends its refresh timer while hidden and
 * checks freshness once when the page is visible again.
 */
export interface VisibilitySource {
  /** visible reports whether the page is visible now. */
  readonly visible: boolean;
  /**
   * subscribe calls `listener` after every change that may have moved
   * `visible` (and after a frozen page resumes); it returns a function that
   * stops the calls.
   */
  subscribe(listener: () => void): () => void;
}

/**
 * VisibilityDocument is the part of `Document` that {@link documentVisibility}
 * reads: `visibilityState` and the `visibilitychange` / `resume` events.
 */
export interface VisibilityDocument {
  /** visibilityState is `"visible"` or `"hidden"` (older browsers: `"prerender"`). */
  readonly visibilityState: string;
  /** addEventListener subscribes to `visibilitychange` and `resume`. */
  addEventListener(type: string, listener: () => void): void;
  /** removeEventListener undoes addEventListener. */
  removeEventListener(type: string, listener: () => void): void;
}

/** The document events after which visibility is read again: a change, and a frozen page resuming (Page Lifecycle API). */
const EVENTS = ["visibilitychange", "resume"] as const;

/**
 * documentVisibility returns a {@link VisibilitySource} over the Page
 * Visibility API of `doc` (`document.visibilityState` and its
 * `visibilitychange` event, plus the Page Lifecycle `resume` event of a page
 * the browser froze), or `undefined` where there is no document (Node,
 * workers) — the caller then treats the page as always visible.
 *
 * @param doc the document to watch. @default globalThis.document
 */
export function documentVisibility(doc?: VisibilityDocument): VisibilitySource | undefined {
  const target = doc ?? (globalThis as { document?: VisibilityDocument }).document;
  if (target === undefined || target === null) {
    return undefined;
  }
  if (typeof target.visibilityState !== "string" || typeof target.addEventListener !== "function" || typeof target.removeEventListener !== "function") {
    throw new TypeError("documentVisibility: the document must have visibilityState, addEventListener and removeEventListener");
  }
  return {
    get visible() {
      return target.visibilityState !== "hidden";
    },
    subscribe(listener) {
      const handler = () => listener();
      for (const type of EVENTS) {
        target.addEventListener(type, handler);
      }
      return () => {
        for (const type of EVENTS) {
          target.removeEventListener(type, handler);
        }
      };
    },
  };
}

/** isVisibilitySource reports whether `v` has the shape of a {@link VisibilitySource}. */
export function isVisibilitySource(v: unknown): v is VisibilitySource {
  return typeof v === "object" && v !== null && typeof (v as VisibilitySource).visible === "boolean" && typeof (v as VisibilitySource).subscribe === "function";
}

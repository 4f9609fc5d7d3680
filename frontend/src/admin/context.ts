// What every view of the console gets: the API, the status line, who is signed in, navigation.
import type { AdminApi } from "./api";
import type { Confirmation } from "./dialog";
import type { Route, View } from "./route";
import type { StatusLine } from "./status";
import type { AdminIdentity } from "./types";

export interface AdminContext {
  readonly api: AdminApi;
  readonly status: StatusLine;
  readonly me: AdminIdentity;
  navigate(route: Partial<Route> & { view: View }): void;
  confirm(ask: Confirmation): Promise<boolean>;
}

/** One page of the console; `show` is called for every route of its view. */
export interface AdminView {
  readonly element: HTMLElement;
  show(route: Route): void;
  /** The view is left: stop timers. */
  dispose(): void;
}

import type { ListMatcher } from './list-matcher';

/**
 * One named list as the compiled rules see it. A rule version keeps its
 * handles for life; a reload swaps `matcher` by reference, so list changes
 * need no recompilation of the rules. `matcher` is undefined while the list
 * does not exist (a rolled-back rule version naming a deleted list, or a
 * replay without the list's file): then `inList` and `notInList` are both
 * false, as for an absent fact (docs/lists.md).
 */
export class ListHandle {
  matcher: ListMatcher | undefined = undefined;

  constructor(
    readonly name: string,
    private readonly clock: () => number,
  ) {}

  /** `inList`: the fact is present and in the list, at the registry's clock. */
  has(fact: unknown): boolean {
    const matcher = this.matcher;
    return matcher !== undefined && fact !== undefined && matcher.contains(fact, this.clock);
  }

  /** `notInList`: the fact is present, the list exists, and the fact is not in it. */
  lacks(fact: unknown): boolean {
    const matcher = this.matcher;
    return matcher !== undefined && fact !== undefined && !matcher.contains(fact, this.clock);
  }
}

/**
 * Every list this process decides with, by name. `clock` is the time entries'
 * expiry is judged at: the wall clock in the service, replay's `--now`
 * reference in a replay (docs/lists.md).
 */
export class ListRegistry {
  private readonly handles = new Map<string, ListHandle>();

  constructor(readonly clock: () => number = Date.now) {}

  /** The handle of `name`, created (empty) on first use so that rules can hold it before the list loads. */
  handle(name: string): ListHandle {
    let handle = this.handles.get(name);
    if (handle === undefined) {
      handle = new ListHandle(name, this.clock);
      this.handles.set(name, handle);
    }
    return handle;
  }

  /** The matcher now deciding for `name`, if the list exists. */
  matcher(name: string): ListMatcher | undefined {
    return this.handles.get(name)?.matcher;
  }

  /** Swaps in a freshly built matcher (one reference assignment). */
  install(matcher: ListMatcher): void {
    this.handle(matcher.name).matcher = matcher;
  }

  /** The list was deleted: its conditions stop matching. */
  uninstall(name: string): void {
    const handle = this.handles.get(name);
    if (handle !== undefined) handle.matcher = undefined;
  }

  /** Names of the lists that exist. */
  names(): string[] {
    return [...this.handles.values()].filter((h) => h.matcher !== undefined).map((h) => h.name);
  }
}

/** A registry with no lists: rules without list conditions, and tests. */
export const NO_LISTS = new ListRegistry();

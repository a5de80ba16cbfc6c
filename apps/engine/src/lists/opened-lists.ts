import type { ListStore } from '@risk/domain/lists/list-store';
import type { OpenedListStore } from '@risk/infra/wiring/open-list-store';

/** Injection token for the opened list store (openListStore): the store, and what closes it. */
export abstract class OpenedLists implements OpenedListStore {
  abstract readonly store: ListStore;
  abstract readonly backend: OpenedListStore['backend'];
  abstract close(): Promise<void>;
}

import { keySlot } from './redis-keys';

let slotTags: string[] | undefined;

/**
 * A hash tag for each cluster slot (`{<tag>}` keys land on that slot), found once by search: a cluster's applied
 * record is keyed by it, so that it sits in the slot of the entities it covers.
 */
export function slotTag(slot: number): string {
  if (slotTags === undefined) {
    const tags = new Array<string>(16384);
    let missing = 16384;
    for (let i = 0; missing > 0; i++) {
      const tag = `s${i.toString(36)}`;
      const found = keySlot(tag);
      if (tags[found] === undefined) {
        tags[found] = tag;
        missing--;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot];
}

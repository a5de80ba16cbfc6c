/**
 * Clients opened while building the engine (Elasticsearch, Kafka, Redis),
 * closed last during shutdown, in reverse order of opening.
 */
export class ClientRegistry {
  private readonly closers: { name: string; close: () => Promise<void> }[] = [];

  add(name: string, close: () => Promise<void>): void {
    this.closers.push({ name, close });
  }

  async closeAll(onError: (name: string, error: unknown) => void): Promise<void> {
    for (const { name, close } of [...this.closers].reverse()) {
      try {
        await close();
      } catch (error) {
        onError(name, error);
      }
    }
  }
}

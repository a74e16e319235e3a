// What a network test creates (namespaces, daemons, charons) is removed again, in reverse order, even when
// the test or its setup fails.
import { NetworkNamespace } from "../../containers/agent/netns.ts";

export class Sandbox {
  private readonly undo: Array<() => Promise<void>> = [];

  async namespace(label: string): Promise<NetworkNamespace> {
    const ns = await NetworkNamespace.create(label);
    this.undo.push(() => ns.destroy());
    return ns;
  }

  /** Something with stop(): stopped before whatever was created before it. */
  track<T extends { stop(): Promise<void> }>(thing: T): T {
    this.undo.push(() => thing.stop());
    return thing;
  }

  /** Runs a setup; if it fails, everything it made so far is removed before the error goes on. */
  async setup(steps: () => Promise<void>): Promise<void> {
    try {
      await steps();
    } catch (error) {
      await this.cleanup();
      throw error;
    }
  }

  async cleanup(): Promise<void> {
    for (const undo of this.undo.splice(0).reverse()) await undo().catch(() => undefined);
  }
}

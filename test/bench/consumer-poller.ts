import { get } from "node:http";

/**
 * Polls the nats-server monitoring endpoint `/jsz?consumers=true` once per
 * `intervalMs` and keeps the largest JetStream consumer count seen (the
 * `consumers` total over all accounts). One request at a time, so a slow
 * server never piles requests up; `stop()` ends the loop.
 */
export class ConsumerPoller {
  max = 0;
  samples = 0;
  failures = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  constructor(
    private readonly monitorUrl: string,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    void this.poll();
  }

  /** Stops polling after one final reading; returns the max count seen. */
  async stop(): Promise<number> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.read();
    return this.max;
  }

  private async poll(): Promise<void> {
    if (this.stopped) return;
    await this.read();
    if (!this.stopped) this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  private async read(): Promise<void> {
    try {
      const jsz = await getJson(`${this.monitorUrl}/jsz?consumers=true`);
      const count = Number(jsz.consumers ?? 0);
      this.samples++;
      if (count > this.max) this.max = count;
    } catch {
      this.failures++;
    }
  }
}

function getJson(url: string): Promise<{ consumers?: number }> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, timeout: 2_000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
        } catch (error) {
          reject(error);
        }
      });
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error("timeout")));
    request.on("error", reject);
  });
}

import type { TimelineEntry } from "./session-state.ts";

/** The session's raw events (seq, author, type): a diagnostics view. */
export function TimelinePanel({ entries }: { entries: TimelineEntry[] }) {
  return (
    <aside className="timeline" data-testid="timeline">
      <h3>Session timeline</h3>
      <table>
        <thead>
          <tr>
            <th>seq</th>
            <th>author</th>
            <th>type</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {[...entries].reverse().map((e) => (
            <tr key={e.seq} data-testid="timeline-row" data-seq={e.seq} data-type={e.type}>
              <td>{e.seq}</td>
              <td>{e.author}</td>
              <td>{e.type}</td>
              <td className="summary">{e.summary}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </aside>
  );
}

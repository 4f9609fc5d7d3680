// The sentences the console shows for numbers and states: pure, so they are unit-tested.
import type { ChainReport, Impact, ProviderStatus } from "./types";

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "2 of 4 known users would lose access" (with ", 1 would gain it" when some would). */
export function impactSentence(impact: Impact): string {
  const known = `${impact.known_users === 1 ? "known user" : "known users"}`;
  const lose = `${impact.would_lose} of ${impact.known_users} ${known} would lose access`;
  return impact.would_gain > 0 ? `${lose}, ${impact.would_gain} would gain it` : lose;
}

/** How many known users may see the room once the change is made. */
export function seesAfter(impact: Impact): number {
  return impact.may_see - impact.would_lose + impact.would_gain;
}

export function mayJoinSentence(impact: Impact): string {
  const after = seesAfter(impact);
  if (impact.known_users === 0) return "No users are known yet.";
  return `After the change, ${after} of ${plural(impact.known_users, "known user")} may see it.`;
}

/** "Chain intact up to #12", or what broke it: "Row #7 altered". */
export function chainSentence(report: ChainReport): string {
  if (report.ok) return `Chain intact up to #${report.head.id}`;
  const id = report.first_bad_id ?? "?";
  if (report.problem === "truncated") return `Chain truncated: row #${id} is missing at the end`;
  return `Row #${id} ${report.problem ?? "altered"}`;
}

/** What the chain status means, in one more sentence. */
export function chainDetail(report: ChainReport): string {
  if (report.ok && report.checked === 0) return "No entries yet.";
  const checked = `${plural(report.checked, "entry", "entries")} checked`;
  if (report.ok) return `${checked}: every entry links to the one before it.`;
  const why: Record<string, string> = {
    altered: "its content or link no longer matches its hash",
    removed: "an entry before it is missing",
    reordered: "entries are out of order",
    truncated: "the newest entries were removed",
  };
  return `${checked} intact before it; ${why[report.problem ?? "altered"] ?? "it does not verify"}.`;
}

/** "1 live session will end" (never "no": the number is what the admin weighs). */
export function liveSessionsSentence(live: number): string {
  return `${plural(live, "live session")} will end`;
}

/** The state word of a provider row. */
export function providerStateText(enabled: boolean, status: ProviderStatus): string {
  if (!enabled) return "disabled";
  const words: Record<string, string> = {
    ok: "ok",
    stale: "keys stale",
    unavailable: "unavailable",
    not_fetched: "not loaded yet",
    not_loaded: "settings invalid",
  };
  return words[status.keys] ?? status.keys;
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 days ago"; null: "never". */
export function ageText(seconds: number | null): string {
  if (seconds === null) return "never";
  const s = Math.max(0, Math.round(seconds));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${plural(Math.floor(s / 86400), "day")} ago`;
}

/** Connect outcomes of the last hour, most frequent first: [["ok", 12], ["token_expired", 2]]. */
export function connectCounts(counts: Readonly<Record<string, number>> = {}): [string, number][] {
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

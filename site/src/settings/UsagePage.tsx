import { useEffect, useState } from "react";
import { listOrganizations } from "../api/organizations";
import type { ChatUsageReport } from "../api/types";
import { getUsage } from "../api/usage";
import { userName } from "../api/userNames";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";
import { bars, dollars, fillDays, monthOf } from "./usage";

const CHART_W = 620;
const CHART_H = 160;

/**
 * AI spend this month: per day as a chart, and by user and by model. Without an organization the
 * server answers what the caller may read everywhere (their own, or all for site owners and
 * auditors); with one, that organization's (its admins and auditors) or the caller's own there.
 */
export function UsagePage() {
  const [org, setOrg] = useState("");
  const orgs = useAsync(listOrganizations, []);
  const { from, to } = monthOf(new Date());
  const [report, reload] = useAsync(async () => {
    const q = { organization_id: org || undefined, from, to };
    const [byDay, byUser, byModel] = await Promise.all([
      getUsage({ ...q, group_by: "day" }),
      getUsage({ ...q, group_by: "user" }),
      getUsage({ ...q, group_by: "model" }),
    ]);
    return { byDay, byUser, byModel };
  }, [org, from, to]);
  return (
    <section className="page">
      <h1>Usage</h1>
      <label>
        Organization{" "}
        <select value={org} onChange={(e) => setOrg(e.target.value)} aria-label="Organization">
          <option value="">All I may see</option>
          {orgs[0].status === "ready"
            ? orgs[0].value.map((o) => (
                <option key={o.id} value={o.id}>
                  {o.display_name || o.name}
                </option>
              ))
            : null}
        </select>
      </label>
      {report.status === "loading" ? <p className="muted">Loading usage…</p> : null}
      {report.status === "error" ? <ErrorAlert error={report.error} onRetry={reload} /> : null}
      {report.status === "ready" ? (
        <>
          <p>
            Spent this month: <strong data-testid="usage-total">{dollars(report.value.byDay.total_micros)}</strong>
          </p>
          <SpendChart report={report.value.byDay} from={from} to={to} />
          <Breakdown title="By user" report={report.value.byUser} names />
          <Breakdown title="By model" report={report.value.byModel} />
        </>
      ) : null}
    </section>
  );
}

function SpendChart({ report, from, to }: { report: ChatUsageReport; from: string; to: string }) {
  const days = bars(fillDays(report.series, from, to), CHART_W, CHART_H);
  return (
    <svg className="usage-chart" viewBox={`0 0 ${CHART_W} ${CHART_H + 16}`} role="img" aria-label="Spend per day">
      {days.map((d) => (
        <rect key={d.day} x={d.x} y={d.y} width={d.width} height={d.height} fill="currentColor" data-day={d.day} data-micros={d.micros}>
          <title>{`${d.day}: ${dollars(d.micros)}`}</title>
        </rect>
      ))}
      <line x1={0} y1={CHART_H} x2={CHART_W} y2={CHART_H} stroke="currentColor" strokeWidth={1} />
      <text x={0} y={CHART_H + 14} fontSize={11} fill="currentColor">{from}</text>
    </svg>
  );
}

function Breakdown({ title, report, names }: { title: string; report: ChatUsageReport; names?: boolean }) {
  if (report.series.length === 0) return null;
  return (
    <div className="table-wrap">
      <table className="table" aria-label={title}>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{names ? "User" : "Model"}</th>
            <th scope="col">Spend</th>
            <th scope="col">Input tokens</th>
            <th scope="col">Output tokens</th>
          </tr>
        </thead>
        <tbody>
          {report.series.map((e) => (
            <tr key={e.key}>
              <td>{names ? <UserName id={e.key} /> : <code>{e.key}</code>}</td>
              <td>{dollars(e.micros)}</td>
              <td>{e.input_tokens}</td>
              <td>{e.output_tokens}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function UserName({ id }: { id: string }) {
  const [name, setName] = useState(id);
  useEffect(() => {
    let live = true;
    void userName(id).then((n) => live && setName(n));
    return () => {
      live = false;
    };
  }, [id]);
  return <>{name}</>;
}

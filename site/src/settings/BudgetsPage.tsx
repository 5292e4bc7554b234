import { type FormEvent, useState } from "react";
import type { ChatBudget } from "../api/types";
import { getBudget, setBudget } from "../api/usage";
import { ErrorAlert } from "../components/ErrorAlert";
import { useAsync } from "../components/useAsync";
import { dollars, parseDollars } from "./usage";

const PERIODS = ["day", "week", "month"] as const;

/**
 * An organization's chat budgets: the organization's own (all its chats) and one per member.
 * Set by the organization's admins and the site owner; the server refuses anyone else.
 */
export function BudgetsPage({ org }: { org: string }) {
  const [orgBudget, reload] = useAsync(() => getBudget(org), [org]);
  const [member, setMember] = useState("");
  const [memberBudget, setMemberBudget] = useState<ChatBudget | null>(null);
  const [error, setError] = useState<unknown>(null);
  const lookUp = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      setMemberBudget(await getBudget(org, member.trim()));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="page">
      <h1>Budgets</h1>
      <h2>Organization</h2>
      {orgBudget.status === "loading" ? <p className="muted">Loading the budget…</p> : null}
      {orgBudget.status === "error" ? <ErrorAlert error={orgBudget.error} onRetry={reload} /> : null}
      {orgBudget.status === "ready" ? <BudgetForm label="Organization budget" budget={orgBudget.value} save={(r) => setBudget(org, undefined, r)} onSaved={reload} /> : null}
      <h2>A member</h2>
      <form onSubmit={lookUp} className="inline-form">
        <label>
          Username <input value={member} onChange={(e) => setMember(e.target.value)} aria-label="Member username" />
        </label>
        <button type="submit" disabled={!member.trim()}>
          Show
        </button>
      </form>
      {error ? <ErrorAlert error={error} /> : null}
      {memberBudget ? (
        <BudgetForm
          key={memberBudget.user_id}
          label={`Budget of ${member}`}
          budget={memberBudget}
          save={(r) => setBudget(org, member.trim(), r)}
          onSaved={() => void getBudget(org, member.trim()).then(setMemberBudget)}
        />
      ) : null}
    </section>
  );
}

function BudgetForm(props: {
  label: string;
  budget: ChatBudget;
  save: (r: { limit_micros: number | null; period: string }) => Promise<unknown>;
  onSaved: () => void;
}) {
  const { budget } = props;
  const [amount, setAmount] = useState(budget.limit_micros === null || budget.limit_micros === undefined ? "" : String(budget.limit_micros / 1e6));
  const [period, setPeriod] = useState(budget.period);
  const [error, setError] = useState<unknown>(null);
  const [invalid, setInvalid] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const limit = parseDollars(amount);
    setInvalid(limit === undefined);
    if (limit === undefined) return;
    setError(null);
    try {
      await props.save({ limit_micros: limit, period });
      props.onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form onSubmit={submit} aria-label={props.label} className="card">
      <p>
        Spent {dollars(budget.spent_micros)}
        {budget.limit_micros !== null && budget.limit_micros !== undefined ? ` of ${dollars(budget.limit_micros)}` : " (no budget)"} this{" "}
        {budget.period}; resets {new Date(budget.period_end).toUTCString()}.
      </p>
      <label>
        Limit in dollars (blank: none){" "}
        <input value={amount} onChange={(e) => setAmount(e.target.value)} aria-label="Limit in dollars" aria-invalid={invalid} />
      </label>
      <label>
        Period{" "}
        <select value={period} onChange={(e) => setPeriod(e.target.value)} aria-label="Period">
          {PERIODS.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      {invalid ? <p role="alert">Enter dollars, e.g. 25 or 12.50, or leave it blank.</p> : null}
      {error ? <ErrorAlert error={error} /> : null}
      <button type="submit">Save</button>
    </form>
  );
}

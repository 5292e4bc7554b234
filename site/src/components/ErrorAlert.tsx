import { errorText } from "./errors";

/**
 * An error alert: the server's `message`, then `detail`, then any per-field validations. With
 * `onRetry` it offers to try again; with `onDismiss` it can be closed (an old error must never
 * outlive the situation it described).
 */
export function ErrorAlert({ error, title, onRetry, onDismiss }: { error: unknown; title?: string; onRetry?: () => void; onDismiss?: () => void }) {
  if (error === null || error === undefined) return null;
  const { message, detail, validations } = errorText(error);
  return (
    <div role="alert" className="alert alert-error">
      {title ? <strong className="alert-title">{title}</strong> : null}
      <p className="alert-message">{message}</p>
      {detail ? <p className="alert-detail">{detail}</p> : null}
      {validations.length > 0 ? (
        <ul className="alert-validations">
          {validations.map((v) => (
            <li key={`${v.field}:${v.detail}`}>
              <code>{v.field}</code>: {v.detail}
            </li>
          ))}
        </ul>
      ) : null}
      {onRetry || onDismiss ? (
        <div className="alert-actions">
          {onRetry ? (
            <button type="button" onClick={onRetry}>
              Retry
            </button>
          ) : null}
          {onDismiss ? (
            <button type="button" className="link-button" onClick={onDismiss} aria-label="Dismiss error">
              Dismiss
            </button>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

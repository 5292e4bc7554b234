import { errorText } from "./errors";

/** An error alert: the server's `message`, then `detail`, then any per-field validations. */
export function ErrorAlert({ error, title }: { error: unknown; title?: string }) {
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
    </div>
  );
}

import * as Ariakit from "@ariakit/react";

/**
 * A modal confirmation (Ariakit's dialog: focus moves into it and is trapped there, Escape or a
 * click outside cancels, and focus returns to where it was). The caller decides when it closes
 * by toggling `open`.
 */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  description: string;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <Ariakit.Dialog
      open={props.open}
      onClose={props.onCancel}
      className="dialog"
      backdrop={<div className="dialog-backdrop" />}
      unmountOnHide
    >
      <Ariakit.DialogHeading className="dialog-title">{props.title}</Ariakit.DialogHeading>
      <Ariakit.DialogDescription>{props.description}</Ariakit.DialogDescription>
      <div className="dialog-actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" className="primary" onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </Ariakit.Dialog>
  );
}

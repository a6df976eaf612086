/**
 * A form whose refusals are shown where they belong: the API answers `{"message": ...}` without
 * saying which field it means, so the message goes next to the field it names (the longest
 * name it mentions: "mutual password" before "password"), else under the form.
 */
import { useState } from 'preact/hooks';
import type { JSX, TargetedEvent } from 'preact';
import { ApiError } from './api.js';

export interface FieldSpec {
  name: string;
  label: string;
  type?: 'text' | 'password' | 'checkbox' | 'select' | 'textarea';
  options?: readonly string[];
  placeholder?: string;
  value?: string;
  required?: boolean;
  hint?: string;
  /** Words of the API's messages that name this field (default: the label, lower case). */
  terms?: readonly string[];
}

/** The field a message names, or undefined for a message about the whole form. */
export function fieldOfMessage(message: string, fields: readonly FieldSpec[]): string | undefined {
  const m = message.toLowerCase();
  let best: { name: string; len: number } | undefined;
  for (const f of fields) {
    for (const term of f.terms ?? [f.label.toLowerCase()]) {
      if (term !== '' && m.includes(term) && (best === undefined || term.length > best.len)) best = { name: f.name, len: term.length };
    }
  }
  return best?.name;
}

let formSeq = 0;

export function ApiForm(props: {
  title: string;
  fields: readonly FieldSpec[];
  submitLabel: string;
  onSubmit: (values: Record<string, string>) => Promise<string | undefined>;
  id?: string;
}): JSX.Element {
  const [prefix] = useState(() => props.id ?? `f${++formSeq}`);
  const initial = (): Record<string, string> => Object.fromEntries(props.fields.map((f) => [f.name, f.value ?? (f.type === 'select' ? (f.options?.[0] ?? '') : '')]));
  const [values, setValues] = useState<Record<string, string>>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState('');
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);

  // A select shows its first option until one is picked (its options may arrive after the first render).
  const effective = (): Record<string, string> => {
    const v = { ...values };
    for (const f of props.fields) if (f.type === 'select' && !(f.options ?? []).includes(v[f.name] ?? '')) v[f.name] = f.options?.[0] ?? '';
    return v;
  };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setErrors({});
    setFormError('');
    setDone('');
    try {
      const msg = await props.onSubmit(effective());
      setDone(msg ?? 'Done');
    } catch (err) {
      const message = err instanceof ApiError || err instanceof Error ? err.message : String(err);
      const field = fieldOfMessage(message, props.fields);
      if (field !== undefined) {
        setErrors({ [field]: message });
        document.getElementById(`${prefix}-${field}`)?.focus();
      } else setFormError(message);
    } finally {
      setBusy(false);
    }
  };

  const set = (name: string, v: string): void => setValues((old) => ({ ...old, [name]: v }));
  return (
    <form class="card" aria-labelledby={`${prefix}-title`} onSubmit={(e) => void submit(e)} noValidate>
      <h3 id={`${prefix}-title`}>{props.title}</h3>
      {props.fields.map((f) => {
        const id = `${prefix}-${f.name}`;
        const err = errors[f.name];
        const described = [f.hint !== undefined ? `${id}-hint` : '', err !== undefined ? `${id}-error` : ''].filter((x) => x !== '').join(' ');
        const common = { id, name: f.name, 'aria-invalid': err !== undefined, ...(described !== '' ? { 'aria-describedby': described } : {}) };
        let input: JSX.Element;
        if (f.type === 'checkbox') {
          input = <input type="checkbox" {...common} checked={values[f.name] === 'true'} onChange={(e) => set(f.name, e.currentTarget.checked ? 'true' : 'false')} />;
        } else if (f.type === 'select') {
          const options = f.options ?? [];
          input = (
            <select {...common} value={effective()[f.name]} disabled={options.length === 0} onChange={(e) => set(f.name, e.currentTarget.value)}>
              {options.length === 0 && <option value="">(none yet)</option>}
              {options.map((o) => (
                <option value={o}>{o}</option>
              ))}
            </select>
          );
        } else if (f.type === 'textarea') {
          input = <textarea {...common} rows={3} value={values[f.name]} placeholder={f.placeholder} onInput={(e) => set(f.name, e.currentTarget.value)} />;
        } else {
          const text = {
            ...common,
            required: f.required,
            autocomplete: f.type === 'password' ? 'new-password' : 'off',
            value: values[f.name],
            placeholder: f.placeholder,
            onInput: (e: TargetedEvent<HTMLInputElement>) => set(f.name, e.currentTarget.value),
          };
          input = f.type === 'password' ? <input type="password" {...text} /> : <input type="text" {...text} />;
        }
        return (
          <div class={f.type === 'checkbox' ? 'field check' : 'field'}>
            <label for={id}>{f.label}</label>
            {input}
            {f.hint !== undefined && (
              <small id={`${id}-hint`} class="hint">
                {f.hint}
              </small>
            )}
            {err !== undefined && (
              <p id={`${id}-error`} class="error" role="alert">
                {err}
              </p>
            )}
          </div>
        );
      })}
      <div class="actions">
        <button type="submit" disabled={busy}>
          {props.submitLabel}
        </button>
      </div>
      {formError !== '' && (
        <p class="error" role="alert" data-form-error>
          {formError}
        </p>
      )}
      {done !== '' && (
        <p class="ok" role="status">
          {done}
        </p>
      )}
    </form>
  );
}

/** A button for one API call, with its outcome next to it. */
export function ActionButton(props: { label: string; confirm?: string; run: () => Promise<unknown>; danger?: boolean; describedBy?: string }): JSX.Element {
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | undefined>();
  const click = async (): Promise<void> => {
    if (props.confirm !== undefined && !window.confirm(props.confirm)) return;
    try {
      const r = await props.run();
      const text = typeof r === 'object' && r !== null && typeof (r as { message?: unknown }).message === 'string' ? (r as { message: string }).message : 'Done';
      setMsg({ ok: true, text });
    } catch (err) {
      setMsg({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
  };
  return (
    <span class="action">
      <button type="button" class={props.danger === true ? 'danger' : ''} onClick={() => void click()}>
        {props.label}
      </button>
      {msg !== undefined && (
        <span class={msg.ok ? 'ok' : 'error'} role={msg.ok ? 'status' : 'alert'}>
          {msg.text}
        </span>
      )}
    </span>
  );
}

// A new-password input with the server's rules explained beside it (at least 10 characters, not a common
// password); a refusal (400 VALIDATION_FAILED naming `fieldPath`) marks the input invalid, and the form's
// ErrorNotice says why.
import { ApiError } from '../api/client';
import { useI18n } from '../i18n/i18n';

/** The server's minimum (contract: at least 10 characters); only a hint here, the server decides. */
export const MIN_PASSWORD_LENGTH = 10;

export function PasswordField({
  id,
  label,
  value,
  onChange,
  error,
  fieldPath,
}: {
  id: string;
  label: string;
  value: string;
  onChange(value: string): void;
  /** The last failed call: a field issue for `fieldPath` marks the input invalid. */
  error?: unknown;
  fieldPath: string;
}) {
  const { t } = useI18n();
  const issue =
    error instanceof ApiError ? error.fields?.find((f) => f.path === fieldPath || f.path.endsWith(fieldPath)) : null;
  const missing = MIN_PASSWORD_LENGTH - [...value].length;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        name={id}
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD_LENGTH}
        value={value}
        aria-invalid={issue ? true : undefined}
        aria-describedby={`${id}-rules ${id}-length`}
        onChange={(e) => onChange(e.target.value)}
      />
      <p id={`${id}-rules`} className="help">
        {t('password.rules')}
      </p>
      <p id={`${id}-length`} className="help small" aria-live="polite">
        {value ? (missing > 0 ? t('password.short', { count: missing }) : t('password.longEnough')) : ''}
      </p>
    </div>
  );
}

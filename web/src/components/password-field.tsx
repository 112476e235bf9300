// A new-password input with the server's rules explained beside it (at least 10 characters, not a common
// password); a refusal (400 VALIDATION_FAILED naming `fieldPath`) marks the input invalid and says which rule, in
// the user's language, under it.
import { ApiError } from '../api/client';
import { useI18n, type MessageKey } from '../i18n/i18n';

/** The server's minimum (contract: at least 10 characters); only a hint here, the server decides. */
export const MIN_PASSWORD_LENGTH = 10;

/** The server's rule names (error details `{rule}`) → our words for them. */
const RULE_KEYS: Record<string, MessageKey> = {
  'too-short': 'password.rule.tooShort',
  'too-long': 'password.rule.tooLong',
  'too-common': 'password.rule.tooCommon',
  'same-as-email': 'password.rule.sameAsEmail',
};

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
  /** The last failed call: a field issue for `fieldPath` marks the input invalid and is explained. */
  error?: unknown;
  fieldPath: string;
}) {
  const { t } = useI18n();
  // Field paths come as `newPassword` or `body.newPassword`: compare without the `body.` prefix.
  const bare = (path: string) => path.replace(/^body\./, '');
  const issue = error instanceof ApiError ? error.fields?.find((f) => bare(f.path) === bare(fieldPath)) : undefined;
  const rule = error instanceof ApiError ? error.details?.rule : undefined;
  const ruleKey = typeof rule === 'string' && RULE_KEYS[rule] ? RULE_KEYS[rule] : null;
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
        aria-describedby={`${id}-rules ${id}-length${issue ? ` ${id}-issue` : ''}`}
        onChange={(e) => onChange(e.target.value)}
      />
      <p id={`${id}-rules`} className="help">
        {t('password.rules')}
      </p>
      <p id={`${id}-length`} className="help small" aria-live="polite">
        {value ? (missing > 0 ? t('password.short', { count: missing }) : t('password.longEnough')) : ''}
      </p>
      {issue ? (
        <p id={`${id}-issue`} className="field-error" role="alert">
          {ruleKey ? t(ruleKey) : t('password.refused')}
        </p>
      ) : null}
    </div>
  );
}

// The search box above a list (the inbox, a contact's mail, contacts): a labelled search field and a Search button.
// It keeps what is typed; submitting hands the trimmed words to onSearch. onClear, when given, runs as soon as the
// field is emptied (the contact's mail goes back to the timeline without a submit).
import { useState, type FormEvent } from 'react';
import { useI18n } from '../i18n/i18n';

export function SearchForm({
  id,
  label,
  placeholder,
  initial = '',
  onSearch,
  onClear,
}: {
  id: string;
  label: string;
  placeholder: string;
  initial?: string;
  onSearch: (q: string) => void;
  onClear?: () => void;
}) {
  const { t } = useI18n();
  const [draft, setDraft] = useState(initial);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSearch(draft.trim());
  };
  return (
    <form role="search" className="search-form" onSubmit={submit}>
      <label htmlFor={id} className="visually-hidden">
        {label}
      </label>
      <input
        id={id}
        type="search"
        placeholder={placeholder}
        value={draft}
        onChange={(e) => {
          setDraft(e.target.value);
          if (e.target.value === '') onClear?.();
        }}
      />
      <button type="submit" className="button">
        {t('common.search')}
      </button>
    </form>
  );
}

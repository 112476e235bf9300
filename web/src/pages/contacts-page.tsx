// Contacts: the list with search, a form to add one, and a CSV import that reports each refused line.
import { useRef, useState, type FormEvent } from 'react';
import { api, query } from '../api/client';
import type { Contact, ContactPage, ImportResult } from '../api/types';
import { ErrorNotice, Loading, PageHeader, displayName, splitAddresses, useAsync } from '../components/common';
import { SearchForm } from '../components/search-form';
import { useI18n } from '../i18n/i18n';
import { Link, navigate, useLocation } from '../router';
import { AddToSequence, ContactSelectBox, useContactSelection } from '../sequences/add-to-sequence';

export function ContactsPage() {
  const { t } = useI18n();
  const { search } = useLocation();
  const q = search.get('q') ?? '';
  const [panel, setPanel] = useState<'none' | 'create' | 'import'>('none');
  const [more, setMore] = useState<ContactPage | null>(null);
  const selection = useContactSelection();

  const page = useAsync(
    (signal) => api<ContactPage>('GET', `/api/contacts${query({ q, limit: 50 })}`, undefined, { signal }),
    [q],
  );
  const items = [...(page.data?.items ?? []), ...(more?.items ?? [])];
  const nextCursor = more ? more.nextCursor : (page.data?.nextCursor ?? null);

  return (
    <section>
      <PageHeader
        title={t('contacts.title')}
        actions={
          <>
            <button
              type="button"
              className="button"
              onClick={() => setPanel(panel === 'import' ? 'none' : 'import')}
              aria-expanded={panel === 'import'}
            >
              {t('contacts.import')}
            </button>
            <button
              type="button"
              className="button button-primary"
              onClick={() => setPanel(panel === 'create' ? 'none' : 'create')}
              aria-expanded={panel === 'create'}
            >
              {t('contacts.new')}
            </button>
          </>
        }
      />
      {panel === 'create' ? <CreateContactForm onCancel={() => setPanel('none')} /> : null}
      {panel === 'import' ? (
        <ImportContacts
          onImported={() => {
            setMore(null);
            void page.reload();
          }}
          onClose={() => setPanel('none')}
        />
      ) : null}
      <div className="toolbar">
        <SearchForm
          id="contacts-search"
          label={t('contacts.search')}
          placeholder={t('contacts.searchPlaceholder')}
          initial={q}
          onSearch={(words) => {
            setMore(null);
            navigate(`/contacts${query({ q: words })}`, { replace: true });
          }}
        />
      </div>
      <ErrorNotice error={page.error} />
      {page.loading && !page.data ? <Loading /> : null}
      {page.data && items.length === 0 ? (
        <p className="empty">{q ? t('contacts.noResults', { q }) : t('contacts.empty')}</p>
      ) : null}
      {items.length > 0 ? <AddToSequence shown={items} selection={selection} /> : null}
      {items.length > 0 ? (
        <ul className="contact-list" aria-label={t('contacts.listLabel')}>
          {items.map((c) => (
            <li key={c.id} className="contact-item">
              <ContactSelectBox contact={c} selection={selection} />
              <Link to={`/contacts/${c.id}`} className="contact-row">
                <span className="contact-name">{displayName(c)}</span>
                <span className="contact-company muted">{c.company ?? ''}</span>
                <span className="contact-emails">{c.emails.join(', ')}</span>
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
      {nextCursor ? (
        <p>
          <button
            type="button"
            className="button"
            onClick={async () => {
              const next = await api<ContactPage>('GET', `/api/contacts${query({ q, limit: 50, cursor: nextCursor })}`);
              setMore((previous) => ({
                items: [...(previous?.items ?? []), ...next.items],
                nextCursor: next.nextCursor,
              }));
            }}
          >
            {t('common.loadMore')}
          </button>
        </p>
      ) : null}
    </section>
  );
}

function CreateContactForm({ onCancel }: { onCancel(): void }) {
  const { t } = useI18n();
  const [firstName, setFirstName] = useState('');
  const [lastName, setLastName] = useState('');
  const [company, setCompany] = useState('');
  const [emails, setEmails] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const contact = await api<Contact>('POST', '/api/contacts', {
        firstName: firstName.trim() || null,
        lastName: lastName.trim() || null,
        company: company.trim() || null,
        emails: splitAddresses(emails),
      });
      navigate(`/contacts/${contact.id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <form className="card form-grid" onSubmit={submit} aria-labelledby="new-contact-title" noValidate>
      <h2 id="new-contact-title">{t('contacts.new')}</h2>
      <div className="field">
        <label htmlFor="contact-first">{t('contacts.firstName')}</label>
        <input
          id="contact-first"
          autoFocus
          autoComplete="off"
          value={firstName}
          onChange={(e) => setFirstName(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="contact-last">{t('contacts.lastName')}</label>
        <input id="contact-last" autoComplete="off" value={lastName} onChange={(e) => setLastName(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="contact-company">{t('contacts.company')}</label>
        <input id="contact-company" autoComplete="off" value={company} onChange={(e) => setCompany(e.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="contact-emails">{t('contacts.emails')}</label>
        <input
          id="contact-emails"
          type="text"
          inputMode="email"
          autoComplete="off"
          required
          value={emails}
          onChange={(e) => setEmails(e.target.value)}
          aria-describedby="contact-emails-help"
        />
        <small id="contact-emails-help" className="muted">
          {t('contacts.emailsHelp')}
        </small>
      </div>
      <ErrorNotice error={error} />
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={busy || !emails.trim()}>
          {busy ? t('common.saving') : t('contacts.create')}
        </button>
        <button type="button" className="button" onClick={onCancel}>
          {t('common.cancel')}
        </button>
      </div>
    </form>
  );
}

function ImportContacts({ onImported, onClose }: { onImported(): void; onClose(): void }) {
  const { t, serverText } = useI18n();
  const fileRef = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<ImportResult | null>(null);
  const [error, setError] = useState<unknown>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const text = await file.text();
      const answer = await api<ImportResult>('POST', '/api/contacts/import', undefined, {
        raw: { body: text, contentType: 'text/csv; charset=utf-8' },
      });
      setResult(answer);
      onImported();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} aria-labelledby="import-title">
      <h2 id="import-title">{t('contacts.import')}</h2>
      <p className="muted">{t('contacts.importHelp')}</p>
      <pre className="code-sample">
        firstName,lastName,email,company{'\n'}Ana,Souza,ana@example.com;ana.souza@example.org,Acme
      </pre>
      <div className="field">
        <label htmlFor="import-file">{t('contacts.importFile')}</label>
        <input
          id="import-file"
          ref={fileRef}
          type="file"
          accept=".csv,text/csv"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
      </div>
      <ErrorNotice error={error} />
      {result ? (
        <div className="notice notice-success" role="status" data-testid="import-result">
          <p>{t('contacts.importResult', { created: result.created, skipped: result.skipped })}</p>
          {result.errors.length > 0 ? (
            <>
              <p>{t('contacts.importErrors')}</p>
              <ul className="import-errors">
                {result.errors.map((e, i) => (
                  <li key={i}>
                    {t('contacts.importLine', { line: e.line })} {serverText(e.code, e.params, e.message)}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </div>
      ) : null}
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={!file || busy}>
          {busy ? t('contacts.importing') : t('contacts.importSubmit')}
        </button>
        <button type="button" className="button" onClick={onClose}>
          {t('common.close')}
        </button>
      </div>
    </form>
  );
}

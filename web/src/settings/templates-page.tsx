// Settings › Templates (issue 15): the caller's personal templates and the organisation's shared ones
// (GET /api/templates), written and changed here (POST, PATCH /api/templates/:id; the shared box only for
// administrators, who alone manage shared ones), removed after a confirmation, and previewed against a chosen contact
// (POST /api/templates/render with the text as it stands, so unsaved changes preview too). The preview shows the
// merged subject, the HTML in the same sandboxed frame as a received mail, and which fields would block sending.
// The HTML is a plain textarea for now; the rich editor (web/src/mail/rich-editor.tsx) takes its place later.
import { useMemo, useRef, useState, type FormEvent } from 'react';
import { api, query } from '../api/client';
import type { Contact, ContactPage, RenderedTemplate, Template, TemplateList } from '../api/types';
import { ConfirmPanel, displayName, ErrorNotice, Loading, Notice, PageHeader, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { buildSrcdoc } from '../mail/message-frame';
import { useSession } from '../session';

const MERGE_FIELDS = ['contact.firstName', 'contact.lastName', 'contact.company', 'user.name'];

/** What the editor works on: an existing template, or a new one. */
type Editing = { template: Template | null };

export function TemplatesPage() {
  const { t } = useI18n();
  const list = useAsync((signal) => api<TemplateList>('GET', '/api/templates', undefined, { signal }), []);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const crumbs = [{ label: t('settings.title'), to: '/settings' }, { label: t('templates.title') }];

  const items = list.data?.items ?? [];
  const personal = items.filter((x) => !x.shared);
  const shared = items.filter((x) => x.shared);

  const saved = (template: Template) => {
    list.setData((previous) => {
      const rest = (previous?.items ?? []).filter((x) => x.id !== template.id);
      return { items: [...rest, template].sort((a, b) => a.name.localeCompare(b.name)) };
    });
    setEditing(null);
    setDone(t('templates.saved', { name: template.name }));
  };
  const removed = (template: Template) => {
    list.setData((previous) => ({ items: (previous?.items ?? []).filter((x) => x.id !== template.id) }));
    if (editing?.template?.id === template.id) setEditing(null);
    setDone(t('templates.deleted', { name: template.name }));
  };

  return (
    <section>
      <PageHeader
        title={t('templates.title')}
        crumbs={crumbs}
        actions={
          <button
            type="button"
            className="button button-primary"
            onClick={() => {
              setDone(null);
              setEditing({ template: null });
            }}
          >
            {t('templates.new')}
          </button>
        }
      />
      <p className="muted">{t('templates.intro')}</p>
      {done ? <Notice kind="success">{done}</Notice> : null}
      {list.error ? <ErrorNotice error={list.error} /> : null}
      {list.loading && !list.data ? <Loading /> : null}
      <div className="settings-grid">
        {list.data ? (
          <section className="card" aria-labelledby="templates-list-title">
            <h2 id="templates-list-title">{t('templates.listTitle')}</h2>
            {items.length === 0 ? <p className="muted">{t('templates.empty')}</p> : null}
            <TemplateGroup
              title={t('templates.personal')}
              items={personal}
              onEdit={(template) => setEditing({ template })}
              onRemoved={removed}
            />
            <TemplateGroup
              title={t('templates.shared')}
              items={shared}
              onEdit={(template) => setEditing({ template })}
              onRemoved={removed}
            />
          </section>
        ) : null}
        {editing ? (
          <TemplateEditor
            key={editing.template?.id ?? 'new'}
            template={editing.template}
            onSaved={saved}
            onCancel={() => setEditing(null)}
          />
        ) : null}
      </div>
    </section>
  );
}

function TemplateGroup({
  title,
  items,
  onEdit,
  onRemoved,
}: {
  title: string;
  items: Template[];
  onEdit(template: Template): void;
  onRemoved(template: Template): void;
}) {
  if (items.length === 0) return null;
  return (
    <>
      <h3>{title}</h3>
      <ul className="plain-list" data-testid="template-list">
        {items.map((template) => (
          <TemplateRow key={template.id} template={template} onEdit={onEdit} onRemoved={onRemoved} />
        ))}
      </ul>
    </>
  );
}

function TemplateRow({
  template,
  onEdit,
  onRemoved,
}: {
  template: Template;
  onEdit(template: Template): void;
  onRemoved(template: Template): void;
}) {
  const { t } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const deleteButton = useRef<HTMLButtonElement>(null);
  const titleId = `template-${template.id}`;

  const remove = async () => {
    setBusy(true);
    setError(null);
    try {
      await api<void>('DELETE', `/api/templates/${encodeURIComponent(template.id)}`);
      onRemoved(template);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <li className="team-member" data-testid="template" data-name={template.name} aria-labelledby={titleId}>
      <div className="team-member-main">
        <p id={titleId} className="team-member-name">
          <strong>{template.name}</strong>{' '}
          <span className={`badge ${template.shared ? 'badge-success' : 'badge-neutral'}`}>
            {template.shared ? t('templates.sharedBadge') : t('templates.personalBadge')}
          </span>
        </p>
        {template.subject ? <p className="muted small">{template.subject}</p> : null}
      </div>
      <div className="team-member-actions">
        <button
          type="button"
          className="button button-small"
          aria-label={t(template.editable ? 'templates.editLabel' : 'templates.viewLabel', { name: template.name })}
          onClick={() => onEdit(template)}
        >
          {template.editable ? t('templates.edit') : t('templates.view')}
        </button>
        {template.editable ? (
          <button
            ref={deleteButton}
            type="button"
            className="button button-small button-danger"
            disabled={busy}
            aria-label={t('templates.deleteLabel', { name: template.name })}
            aria-expanded={confirming}
            onClick={() => setConfirming(true)}
          >
            {t('templates.delete')}
          </button>
        ) : null}
      </div>
      {confirming ? (
        <ConfirmPanel
          id={`${titleId}-confirm`}
          title={t('templates.deleteConfirmTitle', { name: template.name })}
          text={t(template.shared ? 'templates.deleteConfirmShared' : 'templates.deleteConfirmText')}
          confirmLabel={t('templates.delete')}
          confirmClass="button-danger"
          busy={busy}
          onConfirm={() => void remove()}
          onCancel={() => {
            setConfirming(false);
            deleteButton.current?.focus();
          }}
        />
      ) : null}
      <ErrorNotice error={error} />
    </li>
  );
}

function TemplateEditor({
  template,
  onSaved,
  onCancel,
}: {
  template: Template | null;
  onSaved(template: Template): void;
  onCancel(): void;
}) {
  const { t } = useI18n();
  const { user } = useSession();
  const readOnly = template !== null && !template.editable;
  const [name, setName] = useState(template?.name ?? '');
  const [subject, setSubject] = useState(template?.subject ?? '');
  const [html, setHtml] = useState(template?.html ?? '');
  const [shared, setShared] = useState(template?.shared ?? false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const titleId = 'template-editor-title';

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (readOnly) return;
    setBusy(true);
    setError(null);
    try {
      const body = { name: name.trim(), subject, html, ...(user.isAdmin ? { shared } : {}) };
      const result = template
        ? await api<Template>('PATCH', `/api/templates/${encodeURIComponent(template.id)}`, body)
        : await api<Template>('POST', '/api/templates', body);
      onSaved(result);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby={titleId} data-testid="template-editor">
      <h2 id={titleId}>
        {template ? (readOnly ? template.name : t('templates.editTitle', { name: template.name })) : t('templates.new')}
      </h2>
      {readOnly ? <Notice>{t('templates.adminsManageShared')}</Notice> : null}
      <form onSubmit={submit} noValidate>
        <div className="field">
          <label htmlFor="template-name">{t('templates.name')}</label>
          <input
            id="template-name"
            value={name}
            maxLength={200}
            readOnly={readOnly}
            required
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="template-subject">{t('templates.subject')}</label>
          <input
            id="template-subject"
            value={subject}
            maxLength={998}
            readOnly={readOnly}
            onChange={(e) => setSubject(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="template-html">{t('templates.html')}</label>
          <textarea
            id="template-html"
            rows={12}
            value={html}
            readOnly={readOnly}
            spellCheck
            aria-describedby="template-fields-help"
            onChange={(e) => setHtml(e.target.value)}
          />
          <p id="template-fields-help" className="muted small">
            {t('templates.fieldsHelp')} {MERGE_FIELDS.map((f) => `{{${f}}}`).join(', ')}. {t('templates.fallbackHelp')}{' '}
            <code>{'{{contact.firstName | "there"}}'}</code>
          </p>
        </div>
        {user.isAdmin && !readOnly ? (
          <div className="field field-inline">
            <input
              id="template-shared"
              type="checkbox"
              checked={shared}
              onChange={(e) => setShared(e.target.checked)}
            />
            <label htmlFor="template-shared">{t('templates.sharedLabel')}</label>
          </div>
        ) : null}
        <ErrorNotice error={error} />
        <div className="form-actions">
          {readOnly ? null : (
            <button type="submit" className="button button-primary" disabled={busy || !name.trim()}>
              {busy ? t('common.saving') : t('common.save')}
            </button>
          )}
          <button type="button" className="button" disabled={busy} onClick={onCancel}>
            {readOnly ? t('common.close') : t('common.cancel')}
          </button>
        </div>
      </form>
      <TemplatePreview subject={subject} html={html} />
    </section>
  );
}

/** Renders the text as it stands against a contact picked by search (or none: fallbacks and the writer only). */
function TemplatePreview({ subject, html }: { subject: string; html: string }) {
  const { t } = useI18n();
  const [contactQuery, setContactQuery] = useState('');
  const [contact, setContact] = useState<Contact | null>(null);
  const [rendered, setRendered] = useState<RenderedTemplate | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  const found = useAsync(
    (signal) =>
      contactQuery.trim().length >= 1
        ? api<ContactPage>('GET', `/api/contacts${query({ q: contactQuery.trim(), limit: 8 })}`, undefined, { signal })
        : Promise.resolve({ items: [], nextCursor: null }),
    [contactQuery],
  );
  const frame = useMemo(
    () => (rendered ? buildSrcdoc(rendered.html, { showImages: false, inlineImages: new Map() }) : null),
    [rendered],
  );

  const preview = async () => {
    setBusy(true);
    setError(null);
    try {
      setRendered(
        await api<RenderedTemplate>('POST', '/api/templates/render', {
          subject,
          html,
          ...(contact ? { contactId: contact.id } : {}),
        }),
      );
    } catch (err) {
      setRendered(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="template-preview" aria-labelledby="template-preview-title" data-testid="template-preview">
      <h3 id="template-preview-title">{t('templates.previewTitle')}</h3>
      <div className="field">
        <label htmlFor="template-preview-contact">{t('templates.previewContact')}</label>
        {contact ? (
          <p>
            <span className="chip">
              {displayName(contact)} &lt;{contact.emails[0] ?? ''}&gt;
              <button
                type="button"
                className="chip-remove"
                aria-label={t('templates.previewClearContact', { name: displayName(contact) })}
                onClick={() => setContact(null)}
              >
                ×
              </button>
            </span>
          </p>
        ) : null}
        <input
          id="template-preview-contact"
          type="search"
          autoComplete="off"
          placeholder={t('contacts.searchPlaceholder')}
          value={contactQuery}
          onChange={(e) => setContactQuery(e.target.value)}
        />
        {found.data && found.data.items.length > 0 ? (
          <ul className="pick-list" aria-label={t('templates.previewResults')}>
            {found.data.items.map((c) => (
              <li key={c.id}>
                <button
                  type="button"
                  className="button button-small button-quiet"
                  onClick={() => {
                    setContact(c);
                    setContactQuery('');
                  }}
                >
                  {displayName(c)} &lt;{c.emails[0] ?? ''}&gt;
                </button>
              </li>
            ))}
          </ul>
        ) : null}
      </div>
      <div className="form-actions">
        <button type="button" className="button" disabled={busy || !html} onClick={() => void preview()}>
          {busy ? t('common.loading') : t('templates.preview')}
        </button>
      </div>
      <ErrorNotice error={error} />
      {rendered ? (
        <div data-testid="template-rendered">
          {rendered.missing.length > 0 ? (
            <div className="notice notice-warning" role="status" data-testid="template-missing">
              <p className="notice-title">{t('templates.missingTitle')}</p>
              <p>
                {t('templates.missingText', { fields: rendered.missing.join(', ') })}{' '}
                <code>{'{{contact.firstName | "there"}}'}</code>
              </p>
            </div>
          ) : null}
          <p>
            <strong>{t('templates.subject')}:</strong>{' '}
            <span data-testid="template-rendered-subject">{rendered.subject}</span>
          </p>
          {frame ? (
            <div className="message-frame-box">
              <iframe
                className="message-frame"
                sandbox="allow-popups allow-popups-to-escape-sandbox"
                srcDoc={frame.srcdoc}
                title={t('templates.previewFrame')}
                referrerPolicy="no-referrer"
              />
            </div>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}

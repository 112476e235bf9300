// Settings › Users (administrators): the team with role and state (GET /api/users), inviting a colleague
// (POST /api/users → a single-use link to copy, and whether it was mailed), changing a role and deactivating or
// reactivating (PATCH /api/users/:id, after a confirmation). The server refuses to demote or deactivate the last
// administrator with 409 CONFLICT, shown in words.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { Invitation, Role, TeamUser, TeamUserList } from '../api/types';
import { ConfirmPanel, CopyButton, ErrorNotice, Loading, Notice, PageHeader, useAsync } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { useSession } from '../session';

const ROLES: Role[] = ['member', 'admin'];

/** The last admin's 409 gets its own words; any other failure the dictionary's text for its code. */
function TeamError({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <ErrorNotice error={error}>
      {error instanceof ApiError && error.status === 409 ? <p>{t('users.lastAdmin')}</p> : null}
    </ErrorNotice>
  );
}

export function UsersPage() {
  const { t } = useI18n();
  const { user: me } = useSession();
  const list = useAsync((signal) => api<TeamUserList>('GET', '/api/users', undefined, { signal }), []);
  const [done, setDone] = useState<string | null>(null);

  const crumbs = [{ label: t('settings.title'), to: '/settings' }, { label: t('users.title') }];
  if (!me.isAdmin) {
    return (
      <section>
        <PageHeader title={t('users.title')} crumbs={crumbs} />
        <Notice kind="warning">{t('users.adminsOnly')}</Notice>
      </section>
    );
  }

  const replace = (changed: TeamUser) =>
    list.setData((previous) => ({
      items: (previous?.items ?? []).some((u) => u.id === changed.id)
        ? (previous?.items ?? []).map((u) => (u.id === changed.id ? changed : u))
        : [...(previous?.items ?? []), changed],
    }));

  return (
    <section>
      <PageHeader title={t('users.title')} crumbs={crumbs} />
      <div className="settings-grid">
        <InviteForm onInvited={(invitation) => replace(invitation.user)} />
        <section className="card" aria-labelledby="team-title">
          <h2 id="team-title">{t('users.listTitle')}</h2>
          {done ? <Notice kind="success">{done}</Notice> : null}
          {list.error ? <ErrorNotice error={list.error} /> : null}
          {list.loading && !list.data ? <Loading /> : null}
          {list.data ? (
            <ul className="plain-list team-list" data-testid="team-list">
              {list.data.items.map((u) => (
                <TeamMember key={u.id} member={u} isMe={u.id === me.id} onChanged={replace} onDone={setDone} />
              ))}
            </ul>
          ) : null}
        </section>
      </div>
    </section>
  );
}

function TeamMember({
  member,
  isMe,
  onChanged,
  onDone,
}: {
  member: TeamUser;
  isMe: boolean;
  onChanged(user: TeamUser): void;
  onDone(text: string): void;
}) {
  const { t } = useI18n();
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const toggleButton = useRef<HTMLButtonElement>(null);
  const roleSelect = useRef<HTMLSelectElement>(null);
  const titleId = `member-${member.id}`;

  const patch = async (body: { role?: Role; active?: boolean }) => {
    setBusy(true);
    setError(null);
    try {
      const changed = await api<TeamUser>('PATCH', `/api/users/${encodeURIComponent(member.id)}`, body);
      onChanged(changed);
      setConfirming(false);
      if (body.role) onDone(t('users.roleChanged', { email: changed.email, role: t(`users.role.${changed.role}`) }));
      else onDone(t(changed.active ? 'users.reactivated' : 'users.deactivated', { email: changed.email }));
      // Back to the control that started it (the confirmation that held focus is gone).
      window.setTimeout(() => (body.role ? roleSelect.current : toggleButton.current)?.focus(), 0);
    } catch (err) {
      setError(err);
      // The select shows the server's value again: the refused choice did not happen.
      if (roleSelect.current) roleSelect.current.value = member.role;
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="team-member" data-testid="team-member" data-email={member.email} aria-labelledby={titleId}>
      <div className="team-member-main">
        <p id={titleId} className="team-member-name">
          <strong>{member.name || member.email}</strong> {isMe ? <span className="muted">{t('users.you')}</span> : null}
        </p>
        {member.name ? <p className="muted small">{member.email}</p> : null}
        <span className={`badge ${member.active ? 'badge-success' : 'badge-neutral'}`} data-testid="member-state">
          {member.active ? t('users.active') : t('users.inactive')}
        </span>
      </div>
      <div className="team-member-actions">
        <div className="field field-inline">
          <label htmlFor={`${titleId}-role`} className="visually-hidden">
            {t('users.roleOf', { email: member.email })}
          </label>
          <select
            ref={roleSelect}
            id={`${titleId}-role`}
            defaultValue={member.role}
            key={member.role}
            disabled={busy}
            onChange={(e) => void patch({ role: e.target.value as Role })}
          >
            {ROLES.map((role) => (
              <option key={role} value={role}>
                {t(`users.role.${role}`)}
              </option>
            ))}
          </select>
        </div>
        <button
          ref={toggleButton}
          type="button"
          className="button button-small"
          disabled={busy}
          aria-label={t(member.active ? 'users.deactivateLabel' : 'users.reactivateLabel', { email: member.email })}
          aria-expanded={confirming}
          onClick={() => setConfirming(true)}
        >
          {member.active ? t('users.deactivate') : t('users.reactivate')}
        </button>
      </div>
      {confirming ? (
        <ConfirmPanel
          id={`${titleId}-confirm`}
          title={t(member.active ? 'users.deactivateConfirmTitle' : 'users.reactivateConfirmTitle', {
            email: member.email,
          })}
          text={t(member.active ? 'users.deactivateConfirmText' : 'users.reactivateConfirmText')}
          confirmLabel={member.active ? t('users.deactivate') : t('users.reactivate')}
          confirmClass={member.active ? 'button-danger' : 'button-primary'}
          busy={busy}
          onConfirm={() => void patch({ active: !member.active })}
          onCancel={() => {
            setConfirming(false);
            toggleButton.current?.focus();
          }}
        />
      ) : null}
      <TeamError error={error} />
    </li>
  );
}

function InviteForm({ onInvited }: { onInvited(invitation: Invitation): void }) {
  const { t, dateTime } = useI18n();
  const [email, setEmail] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('member');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const result = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (invitation) result.current?.focus();
  }, [invitation]);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setInvitation(null);
    try {
      const made = await api<Invitation>('POST', '/api/users', {
        email: email.trim(),
        role,
        ...(name.trim() ? { name: name.trim() } : {}),
      });
      setInvitation(made);
      onInvited(made);
      setEmail('');
      setName('');
      setRole('member');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="invite-form-title">
      <h2 id="invite-form-title">{t('users.inviteTitle')}</h2>
      <form onSubmit={submit} noValidate data-testid="invite-user-form">
        <div className="form-grid">
          <div className="field">
            <label htmlFor="invite-user-email">{t('users.inviteEmail')}</label>
            <input
              id="invite-user-email"
              type="email"
              autoComplete="off"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="invite-user-name">{t('users.inviteName')}</label>
            <input id="invite-user-name" autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
          </div>
          <div className="field">
            <label htmlFor="invite-user-role">{t('users.inviteRole')}</label>
            <select id="invite-user-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {ROLES.map((r) => (
                <option key={r} value={r}>
                  {t(`users.role.${r}`)}
                </option>
              ))}
            </select>
          </div>
        </div>
        <ErrorNotice error={error} />
        <div className="form-actions">
          <button type="submit" className="button button-primary" disabled={busy || !email.trim()}>
            {busy ? t('users.inviting') : t('users.inviteSubmit')}
          </button>
        </div>
      </form>
      {invitation ? (
        <div className="notice notice-success" data-testid="invitation" ref={result} tabIndex={-1}>
          <p className="notice-title">
            {t('users.inviteLinkHelp', { email: invitation.user.email, date: dateTime(invitation.expiresAt) })}
          </p>
          <div className="field">
            <label htmlFor="invite-link">{t('users.inviteLink')}</label>
            <input
              id="invite-link"
              readOnly
              value={invitation.inviteUrl}
              onFocus={(e) => e.currentTarget.select()}
              data-testid="invite-link"
            />
          </div>
          <p>
            <CopyButton text={invitation.inviteUrl} label={t('users.copyLink')} />
          </p>
          <p>{invitation.mailed ? t('users.mailed') : t('users.notMailed')}</p>
        </div>
      ) : null}
    </section>
  );
}

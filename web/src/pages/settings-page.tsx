// Settings (Perfil › Configurações): the interface language, the organisation's plan, and the ways to the
// e-mail settings, to Profile / Security and (administrators only) to Users.
import { useState } from 'react';
import type { Locale } from '../api/types';
import { ErrorNotice, PageHeader } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';
import { useSession } from '../session';

export function SettingsPage() {
  const { t, locale } = useI18n();
  const { user, org, updateSettings } = useSession();
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);

  const changeLocale = async (next: Locale) => {
    setSaving(true);
    setError(null);
    try {
      await updateSettings({ locale: next });
    } catch (err) {
      setError(err);
    } finally {
      setSaving(false);
    }
  };

  return (
    <section>
      <PageHeader
        title={t('settings.title')}
        crumbs={[{ label: t('settings.profile') }, { label: t('settings.title') }]}
      />
      <div className="settings-grid">
        <section className="card" aria-labelledby="profile-title">
          <h2 id="profile-title">{t('settings.profile')}</h2>
          <dl className="details">
            <div>
              <dt>{t('login.email')}</dt>
              <dd>{user.email}</dd>
            </div>
            {user.displayName ? (
              <div>
                <dt>{t('settings.name')}</dt>
                <dd>{user.displayName}</dd>
              </div>
            ) : null}
            {org ? (
              <div>
                <dt>{t('settings.plan')}</dt>
                <dd data-plan={org.plan}>{t(`plan.${org.plan}`)}</dd>
              </div>
            ) : null}
          </dl>
        </section>
        <section className="card" aria-labelledby="language-title">
          <h2 id="language-title">{t('settings.language')}</h2>
          <div className="field">
            <label htmlFor="settings-language">{t('settings.languageLabel')}</label>
            <select
              id="settings-language"
              value={locale}
              disabled={saving}
              onChange={(e) => void changeLocale(e.target.value as Locale)}
            >
              <option value="en" lang="en">
                English
              </option>
              <option value="pt-BR" lang="pt-BR">
                Português (Brasil)
              </option>
            </select>
          </div>
          <ErrorNotice error={error} />
        </section>
        <section className="card" aria-labelledby="profile-link-title">
          <h2 id="profile-link-title">{t('profile.title')}</h2>
          <p className="muted">{t('settings.profileIntro')}</p>
          <p>
            <Link to="/settings/profile" className="button">
              {t('settings.openProfile')}
            </Link>
          </p>
        </section>
        {user.isAdmin ? (
          <section className="card" aria-labelledby="users-link-title">
            <h2 id="users-link-title">{t('users.title')}</h2>
            <p className="muted">{t('settings.usersIntro')}</p>
            <p>
              <Link to="/settings/users" className="button">
                {t('settings.openUsers')}
              </Link>
            </p>
          </section>
        ) : null}
        {user.isAdmin ? (
          <section className="card" aria-labelledby="audit-link-title">
            <h2 id="audit-link-title">{t('audit.title')}</h2>
            <p className="muted">{t('audit.settingsIntro')}</p>
            <p>
              <Link to="/settings/audit-log" className="button">
                {t('audit.open')}
              </Link>
            </p>
          </section>
        ) : null}
        <section className="card" aria-labelledby="templates-link-title">
          <h2 id="templates-link-title">{t('templates.title')}</h2>
          <p className="muted">{t('settings.templatesIntro')}</p>
          <p>
            <Link to="/settings/templates" className="button">
              {t('settings.openTemplates')}
            </Link>
          </p>
        </section>
        <section className="card" aria-labelledby="booking-link-title">
          <h2 id="booking-link-title">{t('bookingSettings.title')}</h2>
          <p className="muted">{t('bookingSettings.intro')}</p>
          <p>
            <Link to="/settings/booking" className="button">
              {t('bookingSettings.open')}
            </Link>
          </p>
        </section>
        <section className="card" aria-labelledby="email-settings-link-title">
          <h2 id="email-settings-link-title">{t('emailSettings.title')}</h2>
          <p className="muted">{t('settings.emailIntro')}</p>
          <p>
            <Link to="/settings/email" className="button button-primary">
              {t('settings.openEmail')}
            </Link>
          </p>
        </section>
      </div>
    </section>
  );
}

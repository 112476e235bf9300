// Any path the app does not know.
import { PageHeader } from '../components/common';
import { useI18n } from '../i18n/i18n';
import { Link } from '../router';

export function NotFoundPage() {
  const { t } = useI18n();
  return (
    <section>
      <PageHeader title={t('notFound.title')} />
      <p>
        <Link to="/inbox">{t('notFound.back')}</Link>
      </p>
    </section>
  );
}

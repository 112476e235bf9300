// The rich editor loads as its own chunk when a compose or signature form first opens: Tiptap and ProseMirror
// are most of its weight, and the pages that only read mail never need them. Until it is there, a box of the
// editor's size says it is loading; the form learns it can use the handle through onReady.
import { lazy, Suspense, type ComponentProps } from 'react';
import { useI18n } from '../i18n/i18n';

const RichEditor = lazy(() => import('./rich-editor').then((module) => ({ default: module.RichEditor })));

export function LazyRichEditor(props: ComponentProps<typeof RichEditor>) {
  const { t } = useI18n();
  return (
    <Suspense
      fallback={
        <div className={`rich-editor rich-editor-loading rich-editor-${props.minHeight ?? 'tall'}`} aria-busy="true">
          {t('common.loading')}
        </div>
      }
    >
      <RichEditor {...props} />
    </Suspense>
  );
}

/** Plain text (a reply's starting body) as the editor's paragraphs. */
export function textToHtml(text: string): string {
  if (!text) return '';
  const escape = (line: string) =>
    line.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return text
    .split(/\r?\n/)
    .map((line) => `<p>${escape(line)}</p>`)
    .join('');
}

// Shows an e-mail's HTML body without letting it act: the server has already sanitised it (scripts, event
// handlers, forms, frames and styles sheets gone; remote images moved to data-remote-src), and the browser
// adds two more walls: a sandboxed iframe (no scripts, no same-origin, no forms, no top navigation) fed through
// srcdoc, whose own CSP lets it load nothing but inline styles and embedded images. Popups are allowed, and escape
// the sandbox, only so that a link in the mail (target=_blank, rel=noopener from the sanitiser) opens in a new tab:
// without scripts nothing in the mail can open one by itself.
// "Show images" copies data-remote-src back to src for https: images and lets img-src reach https: too.
import { useEffect, useMemo, useState } from 'react';
import type { MessageDetail } from '../api/types';
import { useI18n } from '../i18n/i18n';

export const FRAME_CSP = "default-src 'none'; img-src data: cid:; style-src 'unsafe-inline'";
export const FRAME_CSP_WITH_IMAGES = "default-src 'none'; img-src data: cid: https:; style-src 'unsafe-inline'";

const FRAME_STYLE =
  'html{color-scheme:light}body{margin:0;padding:12px;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;' +
  'color:#1d2330;background:#fff;overflow-wrap:anywhere}img{max-width:100%;height:auto}table{max-width:100%}' +
  'pre{white-space:pre-wrap}blockquote{margin:0 0 0 .5em;padding-left:.75em;border-left:3px solid #ccd}';

export interface BuiltFrame {
  srcdoc: string;
  remoteImages: number;
}

/**
 * The srcdoc for a sanitised body. Parsed with DOMParser, whose document is inert: nothing in it runs or
 * loads while we rewrite image sources.
 */
export function buildSrcdoc(
  html: string,
  options: { showImages: boolean; inlineImages: ReadonlyMap<string, string> },
): BuiltFrame {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  let remoteImages = 0;
  for (const img of Array.from(doc.querySelectorAll('img'))) {
    const remote = img.getAttribute('data-remote-src');
    if (remote) {
      remoteImages++;
      if (options.showImages && /^https:\/\//i.test(remote)) img.setAttribute('src', remote);
      continue;
    }
    const src = img.getAttribute('src') ?? '';
    if (/^cid:/i.test(src)) {
      const inline = options.inlineImages.get(normalizeCid(src.slice(4)));
      if (inline) img.setAttribute('src', inline);
    }
  }
  const csp = options.showImages ? FRAME_CSP_WITH_IMAGES : FRAME_CSP;
  const srcdoc =
    '<!doctype html><html><head><meta charset="utf-8">' +
    `<meta http-equiv="Content-Security-Policy" content="${csp}">` +
    '<meta name="referrer" content="no-referrer">' +
    `<style>${FRAME_STYLE}</style></head><body>${doc.body.innerHTML}</body></html>`;
  return { srcdoc, remoteImages };
}

function normalizeCid(cid: string): string {
  return decodeURIComponent(cid).replace(/^<|>$/g, '').toLowerCase();
}

/** Embedded images (Content-ID parts) as data: URLs, which the frame's CSP allows. */
function useInlineImages(message: MessageDetail): ReadonlyMap<string, string> {
  const [images, setImages] = useState<ReadonlyMap<string, string>>(new Map());
  useEffect(() => {
    const wanted = message.attachments.filter(
      (a) => a.contentId && /^image\/(png|gif|jpe?g|webp|bmp)$/i.test(a.contentType) && a.size <= 2 * 1024 * 1024,
    );
    if (wanted.length === 0 || !message.html?.includes('cid:')) return;
    const controller = new AbortController();
    void Promise.all(
      wanted.map(async (a) => {
        const response = await fetch(`/api/messages/${message.id}/attachments/${a.id}`, {
          signal: controller.signal,
          credentials: 'same-origin',
        });
        if (!response.ok) return null;
        const blob = await response.blob();
        const dataUrl = await new Promise<string>((resolve, reject) => {
          const reader = new FileReader();
          reader.onload = () =>
            resolve(String(reader.result).replace(/^data:[^;,]*/, `data:${a.contentType.toLowerCase()}`));
          reader.onerror = () => reject(reader.error);
          reader.readAsDataURL(blob);
        });
        return [normalizeCid(a.contentId!), dataUrl] as const;
      }),
    )
      .then((pairs) => setImages(new Map(pairs.filter((p): p is readonly [string, string] => p !== null))))
      .catch(() => undefined);
    return () => controller.abort();
  }, [message]);
  return images;
}

export function MessageBody({ message }: { message: MessageDetail }) {
  const { t } = useI18n();
  const [showImages, setShowImages] = useState(false);
  const [plain, setPlain] = useState(!message.html);
  const inlineImages = useInlineImages(message);
  const frame = useMemo(
    () => (message.html ? buildSrcdoc(message.html, { showImages, inlineImages }) : null),
    [message.html, showImages, inlineImages],
  );

  return (
    <div className="message-body">
      {frame ? (
        <div className="message-body-tools">
          {frame.remoteImages > 0 && !plain ? (
            showImages ? (
              <span className="muted">{t('message.imagesShown')}</span>
            ) : (
              <>
                <span className="muted">{t('message.imagesBlocked', { count: frame.remoteImages })}</span>
                <button type="button" className="button button-small" onClick={() => setShowImages(true)}>
                  {t('message.showImages')}
                </button>
              </>
            )
          ) : null}
          {message.text ? (
            <button
              type="button"
              className="button button-small button-quiet"
              onClick={() => setPlain((p) => !p)}
              aria-pressed={plain}
            >
              {t('message.plainText')}
            </button>
          ) : null}
        </div>
      ) : null}
      {frame && !plain ? (
        <div className="message-frame-box">
          <iframe
            className="message-frame"
            sandbox="allow-popups allow-popups-to-escape-sandbox"
            srcDoc={frame.srcdoc}
            title={t('message.frameTitle', { subject: message.subject ?? t('message.noSubject') })}
            referrerPolicy="no-referrer"
          />
        </div>
      ) : (
        <pre className="message-text">{message.text ?? ''}</pre>
      )}
    </div>
  );
}

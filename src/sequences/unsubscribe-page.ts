// The unsubscribe page of sequence mail (/u/<token>), server-rendered in English or Brazilian Portuguese (the
// browser's Accept-Language), without scripts. It names no one: the same page for any token.

const TEXTS = {
  en: {
    lang: 'en',
    title: 'Unsubscribe',
    ask: 'Do you want to stop receiving these emails?',
    button: 'Unsubscribe',
    done: 'You will no longer receive these emails.',
  },
  'pt-BR': {
    lang: 'pt-BR',
    title: 'Cancelar inscrição',
    ask: 'Deseja deixar de receber estes e-mails?',
    button: 'Cancelar inscrição',
    done: 'Você não receberá mais estes e-mails.',
  },
} as const;

/** pt-BR when the browser prefers Portuguese over English, else English. */
export function pageLocale(acceptLanguage: string | undefined): 'en' | 'pt-BR' {
  const ranked = (acceptLanguage ?? '')
    .split(',')
    .map((part, i) => {
      const [tag, ...rest] = part.trim().split(';');
      const q = rest.map((r) => r.trim()).find((r) => r.startsWith('q='));
      return { tag: (tag ?? '').toLowerCase(), q: q ? Number(q.slice(2)) || 0 : 1, i };
    })
    .filter((l) => l.tag.startsWith('pt') || l.tag.startsWith('en'))
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return ranked[0]?.tag.startsWith('pt') ? 'pt-BR' : 'en';
}

export function unsubscribePage(acceptLanguage: string | undefined, mode: 'ask' | 'done'): string {
  const t = TEXTS[pageLocale(acceptLanguage)];
  const body =
    mode === 'ask'
      ? `<p>${t.ask}</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">${t.button}</button></form>`
      : `<p>${t.done}</p>`;
  return `<!doctype html>
<html lang="${t.lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>${t.title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font:inherit;padding:.5rem 1rem}</style>
</head><body><h1>${t.title}</h1>
${body}
</body></html>
`;
}

// What a paste may bring into the compose editor: pasted HTML (from a web page, a document, another mail) is
// cleaned before Tiptap reads it. The editor's schema already drops every node and attribute it does not know;
// this is the second fence, so that nothing active survives even for a moment in the parsed fragment and no
// future extension can let it through: scripts and embedding elements go with their content, event handlers,
// `style`, `class` and `id` go, links keep only http(s)/mailto/tel targets, and images only http(s) or
// raster data: sources. DOMParser builds an inert document: nothing in it runs or loads while we clean it.

const DROPPED_ELEMENTS =
  'script,style,link,meta,base,title,iframe,frame,frameset,object,embed,applet,form,input,button,textarea,' +
  'select,option,svg,math,template,noscript,video,audio,source,track,canvas,portal';

const DROPPED_ATTRIBUTES = new Set(['style', 'class', 'id', 'srcset', 'background', 'formaction', 'xmlns']);
const LINK_TARGET = /^(?:https?:|mailto:|tel:)/i;
const IMAGE_SOURCE = /^(?:https?:\/\/|data:image\/(?:png|gif|jpe?g|webp);base64,)/i;

/** Browsers ignore ASCII controls and spaces in URLs ("java\tscript:"), so the checks must too. */
function cleanUrl(value: string | null): string {
  return (value ?? '').replace(/[\u0000-\u0020\u007f]+/g, '');
}

/**
 * `keepSignatureMark`: only for the mailbox's own signature as compose inserts it. A pasted `data-signature` (copied
 * from another message) loses its mark, or compose would take it for the signature to swap or remove.
 */
export function sanitizePastedHtml(html: string, options: { keepSignatureMark?: boolean } = {}): string {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  for (const element of Array.from(doc.querySelectorAll(DROPPED_ELEMENTS))) element.remove();
  for (const element of Array.from(doc.body.querySelectorAll('*'))) {
    for (const attribute of Array.from(element.attributes)) {
      const name = attribute.name.toLowerCase();
      if (name.startsWith('on') || DROPPED_ATTRIBUTES.has(name)) element.removeAttribute(attribute.name);
      else if (name === 'data-signature' && !options.keepSignatureMark) element.removeAttribute(attribute.name);
    }
    const tag = element.tagName.toLowerCase();
    if (tag === 'a' && !LINK_TARGET.test(cleanUrl(element.getAttribute('href')))) element.removeAttribute('href');
    if (tag === 'img' && !IMAGE_SOURCE.test(cleanUrl(element.getAttribute('src')))) element.remove();
  }
  return doc.body.innerHTML;
}

// The HTML editor of compose and of the signature settings: Tiptap (ProseMirror) with the starter kit cut down
// to what mail needs (bold, italic, lists, links, H2/H3, quotes, undo), a signature block node and images
// (signature logos). Its schema is the allow-list: pasted HTML is cleaned first (sanitizePastedHtml), then
// anything the schema does not know is dropped. The parent reads HTML through onChange and drives the editor
// through a handle: insert a template at the cursor, put or swap the mailbox's signature.
import { Node, mergeAttributes, type Editor } from '@tiptap/core';
import { DOMParser as ProseMirrorDomParser, type Node as ProseMirrorNode } from '@tiptap/pm/model';
import { EditorContent, useEditor, useEditorState } from '@tiptap/react';
import StarterKit from '@tiptap/starter-kit';
import { useEffect, useId, useImperativeHandle, useRef, useState, type ReactNode, type Ref } from 'react';
import { LinkIcon, ListIcon, NumberedListIcon, QuoteIcon, RedoIcon, UndoIcon } from '../components/icons';
import { useI18n, type MessageKey } from '../i18n/i18n';
import { sanitizePastedHtml } from './sanitize-pasted-html';

export interface RichEditorHandle {
  /** Inserts HTML at the cursor (or at the end of the body when the editor never had the focus). */
  insertHtml(html: string): void;
  /** Puts the signature block below the body (above a quoted original), replacing the one there; null removes it. */
  setSignature(html: string | null): void;
  hasSignature(): boolean;
  focus(): void;
}

/** The marked block a signature lives in: found again to be swapped or removed, and sent as it is. */
export const SIGNATURE_ATTRIBUTE = 'data-signature';

const SignatureBlock = Node.create({
  name: 'signature',
  group: 'block',
  content: 'block+',
  defining: true,
  parseHTML: () => [{ tag: `div[${SIGNATURE_ATTRIBUTE}]` }],
  renderHTML: () => ['div', { [SIGNATURE_ATTRIBUTE]: '' }, 0],
});

const IMAGE_SOURCE = /^(?:https?:\/\/|data:image\/(?:png|gif|jpe?g|webp);base64,)/i;

// Images only as signatures and templates bring them (a logo): http(s) or embedded raster data, never another scheme.
const MailImage = Node.create({
  name: 'image',
  group: 'inline',
  inline: true,
  atom: true,
  draggable: true,
  addAttributes: () => ({
    src: { default: null },
    alt: { default: null },
    width: { default: null },
    height: { default: null },
  }),
  parseHTML: () => [
    {
      tag: 'img[src]',
      getAttrs: (element) => (IMAGE_SOURCE.test((element.getAttribute('src') ?? '').trim()) ? null : false),
    },
  ],
  renderHTML: ({ HTMLAttributes }) => ['img', mergeAttributes(HTMLAttributes)],
});

/** The block compose inserts: the "-- " delimiter mail programs recognise, then the mailbox's signature. */
export function signatureBlockHtml(signatureHtml: string): string {
  return `<div ${SIGNATURE_ATTRIBUTE}=""><p>-- </p>${signatureHtml}</div>`;
}

/** Where the signature goes: before a quoted original (a blockquote ending the message), else at the end. */
function signaturePosition(doc: ProseMirrorNode): number {
  const last = doc.lastChild;
  if (last && last.type.name === 'blockquote' && doc.childCount > 1) return doc.content.size - last.nodeSize;
  return doc.content.size;
}

function findSignature(editor: Editor): { from: number; to: number } | null {
  let found: { from: number; to: number } | null = null;
  editor.state.doc.forEach((node, offset) => {
    if (!found && node.type.name === 'signature') found = { from: offset, to: offset + node.nodeSize };
  });
  return found;
}

interface ToolbarButton {
  key: string;
  label: MessageKey;
  text: ReactNode;
  active?: (editor: Editor) => boolean;
  run: (editor: Editor) => void;
  can?: (editor: Editor) => boolean;
}

const BUTTONS: ToolbarButton[] = [
  {
    key: 'bold',
    label: 'editor.bold',
    text: 'B',
    active: (e) => e.isActive('bold'),
    run: (e) => e.chain().focus().toggleBold().run(),
  },
  {
    key: 'italic',
    label: 'editor.italic',
    text: 'I',
    active: (e) => e.isActive('italic'),
    run: (e) => e.chain().focus().toggleItalic().run(),
  },
  {
    key: 'h2',
    label: 'editor.heading',
    text: 'H2',
    active: (e) => e.isActive('heading', { level: 2 }),
    run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run(),
  },
  {
    key: 'h3',
    label: 'editor.subheading',
    text: 'H3',
    active: (e) => e.isActive('heading', { level: 3 }),
    run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run(),
  },
  {
    key: 'bullets',
    label: 'editor.bulletList',
    text: <ListIcon />,
    active: (e) => e.isActive('bulletList'),
    run: (e) => e.chain().focus().toggleBulletList().run(),
  },
  {
    key: 'numbers',
    label: 'editor.orderedList',
    text: <NumberedListIcon />,
    active: (e) => e.isActive('orderedList'),
    run: (e) => e.chain().focus().toggleOrderedList().run(),
  },
  {
    key: 'quote',
    label: 'editor.quote',
    text: <QuoteIcon />,
    active: (e) => e.isActive('blockquote'),
    run: (e) => e.chain().focus().toggleBlockquote().run(),
  },
  {
    key: 'undo',
    label: 'editor.undo',
    text: <UndoIcon />,
    run: (e) => e.chain().focus().undo().run(),
    can: (e) => e.can().undo(),
  },
  {
    key: 'redo',
    label: 'editor.redo',
    text: <RedoIcon />,
    run: (e) => e.chain().focus().redo().run(),
    can: (e) => e.can().redo(),
  },
];

export function RichEditor({
  value,
  onChange,
  label,
  ref,
  onSubmitShortcut,
  onReady,
  minHeight = 'tall',
}: {
  /** The starting HTML; later changes replace the content only when they differ from what the editor sent. */
  value: string;
  onChange(html: string): void;
  /** The accessible name of the writing area. */
  label: string;
  ref?: Ref<RichEditorHandle>;
  /** Ctrl/Cmd+Enter: the form sends (the editor would otherwise insert a line break). */
  onSubmitShortcut?: () => void;
  /** The editor exists and the handle works (it loads apart from the app: see lazy-rich-editor.tsx). */
  onReady?: () => void;
  minHeight?: 'tall' | 'short';
}) {
  const { t } = useI18n();
  const lastEmitted = useRef(value);
  const onChangeRef = useRef(onChange);
  const submitRef = useRef(onSubmitShortcut);
  const [linkOpen, setLinkOpen] = useState(false);
  const [linkUrl, setLinkUrl] = useState('');
  const linkId = useId();
  useEffect(() => {
    onChangeRef.current = onChange;
    submitRef.current = onSubmitShortcut;
  });

  const editor = useEditor({
    extensions: [
      StarterKit.configure({
        heading: { levels: [2, 3] },
        code: false,
        codeBlock: false,
        horizontalRule: false,
        strike: false,
        underline: false,
        // No empty paragraph forced after the last block: it would pile up below the signature at every swap.
        trailingNode: false,
        link: {
          openOnClick: false,
          autolink: true,
          defaultProtocol: 'https',
          HTMLAttributes: { rel: 'noopener noreferrer', target: '_blank' },
          // Only what a recipient's mail program may follow safely.
          isAllowedUri: (url) => /^(?:https?:|mailto:|tel:)/i.test(url.trim()),
        },
      }),
      SignatureBlock,
      MailImage,
    ],
    content: value,
    editorProps: {
      attributes: {
        'aria-label': label,
        'aria-multiline': 'true',
        role: 'textbox',
        class: `rich-editor-content rich-editor-${minHeight}`,
      },
      transformPastedHTML: (html) => sanitizePastedHtml(html),
      handleKeyDown: (_view, event) => {
        if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
          submitRef.current?.();
          return true;
        }
        return false;
      },
    },
    onUpdate: ({ editor: current }) => {
      const html = current.getHTML();
      lastEmitted.current = html;
      onChangeRef.current(html);
    },
  });

  const readyRef = useRef(onReady);
  useEffect(() => {
    readyRef.current = onReady;
  });
  useEffect(() => {
    if (editor) readyRef.current?.();
  }, [editor]);

  // A new value from outside (a reset after sending): replace the content without echoing it back.
  useEffect(() => {
    if (!editor || value === lastEmitted.current) return;
    lastEmitted.current = value;
    editor.commands.setContent(value, { emitUpdate: false });
  }, [editor, value]);

  useImperativeHandle(
    ref,
    () => ({
      insertHtml(html) {
        if (!editor) return;
        const chain = editor.chain();
        // Never focused yet: the selection sits at the start; a template belongs where the body is.
        if (!editor.isFocused && editor.state.selection.from <= 1 && !editor.isEmpty) {
          const signature = findSignature(editor);
          chain.setTextSelection(signature ? Math.max(signature.from - 1, 1) : editor.state.doc.content.size);
        }
        // The same fence as a paste: a template is HTML from elsewhere too.
        chain.focus().insertContent(sanitizePastedHtml(html)).run();
      },
      setSignature(html) {
        if (!editor) return;
        const tr = editor.state.tr;
        const existing = findSignature(editor);
        if (existing) tr.delete(existing.from, existing.to);
        const block = html ? parseBlock(editor, signatureBlockHtml(html)) : null;
        if (block) tr.insert(signaturePosition(tr.doc), block);
        // Not an edit of the user's: undo must not take the signature out (nor bring an old one back).
        tr.setMeta('addToHistory', false);
        editor.view.dispatch(tr);
      },
      hasSignature: () => (editor ? findSignature(editor) !== null : false),
      focus: () => editor?.commands.focus(),
    }),
    [editor],
  );

  const state = useEditorState({
    editor,
    selector: ({ editor: current }) =>
      current
        ? Object.fromEntries(
            BUTTONS.map((b) => [
              b.key,
              { active: b.active ? b.active(current) : false, enabled: b.can ? b.can(current) : true },
            ]),
          )
        : null,
  });
  const linkActive = useEditorState({ editor, selector: ({ editor: current }) => current?.isActive('link') ?? false });

  const applyLink = () => {
    if (!editor) return;
    const href = linkUrl.trim();
    if (!href) {
      editor.chain().focus().extendMarkRange('link').unsetLink().run();
    } else {
      const url = /^[a-z][a-z0-9+.-]*:/i.test(href) ? href : `https://${href}`;
      if (!/^(?:https?:|mailto:|tel:)/i.test(url)) return;
      if (editor.state.selection.empty && !editor.isActive('link')) {
        editor
          .chain()
          .focus()
          .insertContent({ type: 'text', text: href, marks: [{ type: 'link', attrs: { href: url } }] })
          .run();
      } else {
        editor.chain().focus().extendMarkRange('link').setLink({ href: url }).run();
      }
    }
    setLinkOpen(false);
    setLinkUrl('');
  };

  return (
    <div className="rich-editor">
      <div className="rich-editor-toolbar" role="toolbar" aria-label={t('editor.toolbar')}>
        {BUTTONS.map((button) => (
          <button
            key={button.key}
            type="button"
            className={`rich-editor-button rich-editor-${button.key}`}
            aria-label={t(button.label)}
            title={t(button.label)}
            aria-pressed={button.active ? Boolean(state?.[button.key]?.active) : undefined}
            disabled={!editor || state?.[button.key]?.enabled === false}
            onMouseDown={(event) => event.preventDefault()}
            onClick={() => editor && button.run(editor)}
          >
            {button.text}
          </button>
        ))}
        <button
          type="button"
          className="rich-editor-button rich-editor-link"
          aria-label={t('editor.link')}
          title={t('editor.link')}
          aria-pressed={linkActive ?? false}
          aria-expanded={linkOpen}
          aria-controls={linkOpen ? linkId : undefined}
          disabled={!editor}
          onMouseDown={(event) => event.preventDefault()}
          onClick={() => {
            setLinkUrl(editor?.getAttributes('link').href ?? '');
            setLinkOpen(!linkOpen);
          }}
        >
          <LinkIcon />
        </button>
      </div>
      {linkOpen ? (
        <div className="rich-editor-linkbar" id={linkId}>
          <label htmlFor={`${linkId}-url`}>{t('editor.linkUrl')}</label>
          <input
            id={`${linkId}-url`}
            type="url"
            value={linkUrl}
            placeholder="https://"
            autoFocus
            onChange={(e) => setLinkUrl(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                applyLink();
              } else if (e.key === 'Escape') {
                setLinkOpen(false);
              }
            }}
          />
          <button type="button" className="button button-small" onClick={applyLink}>
            {t('editor.linkApply')}
          </button>
          {linkActive ? (
            <button
              type="button"
              className="button button-small button-quiet"
              onClick={() => {
                editor?.chain().focus().extendMarkRange('link').unsetLink().run();
                setLinkOpen(false);
              }}
            >
              {t('editor.linkRemove')}
            </button>
          ) : null}
        </div>
      ) : null}
      <EditorContent editor={editor} />
    </div>
  );
}

/** One block of HTML read with the editor's own schema and parse rules, from an inert document (nothing loads). */
function parseBlock(editor: Editor, html: string): ProseMirrorNode | null {
  const body = new DOMParser().parseFromString(sanitizePastedHtml(html, { keepSignatureMark: true }), 'text/html').body;
  return ProseMirrorDomParser.fromSchema(editor.schema).parse(body).firstChild;
}

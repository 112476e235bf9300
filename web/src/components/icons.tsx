// The few icons the app uses, as inline SVG: no icon font, no emoji font needed on the machine, nothing to
// load. Decorative by default (aria-hidden); give `label` when the icon carries meaning on its own.
import type { ReactNode } from 'react';

interface IconProps {
  label?: string;
}

function Svg({ label, children }: IconProps & { children: ReactNode }) {
  return (
    <svg
      className="icon"
      viewBox="0 0 24 24"
      width="1em"
      height="1em"
      fill="none"
      stroke="currentColor"
      strokeWidth="2"
      strokeLinecap="round"
      strokeLinejoin="round"
      {...(label ? { role: 'img', 'aria-label': label } : { 'aria-hidden': true })}
      focusable="false"
    >
      {children}
    </svg>
  );
}

export function PaperclipIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48" />
    </Svg>
  );
}

export function CalendarIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <rect x="3" y="4" width="18" height="18" rx="2" />
      <path d="M16 2v4M8 2v4M3 10h18" />
    </Svg>
  );
}

export function IncomingIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M17 7L7 17M17 17H7V7" />
    </Svg>
  );
}

export function OutgoingIcon(props: IconProps) {
  return (
    <Svg {...props}>
      <path d="M7 17L17 7M7 7h10v10" />
    </Svg>
  );
}

/**
 * Text a script chose (its messages, errors, output, result) made safe to write to a person's
 * terminal: control characters, which could move the cursor, clear the screen, set the window's
 * title or write the clipboard (ESC, CSI, OSC, C1 controls), are shown as spaces. `printableText`
 * keeps line breaks and tabs; `printableLine` keeps neither.
 */
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// eslint-disable-next-line no-control-regex
const CONTROLS_AND_BREAKS = /[\u0000-\u001f\u007f-\u009f]/g;

export function printableText(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(CONTROLS, ' ');
}

export function printableLine(text: string): string {
  return text.replace(CONTROLS_AND_BREAKS, ' ');
}

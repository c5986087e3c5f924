/**
 * Test-only helpers for @grafana/ui Combobox/MultiCombobox under jsdom.
 *
 * jsdom has no layout: the virtualised option list (@tanstack/react-virtual) measures its scroll element with
 * clientWidth/clientHeight and renders nothing when they are 0, the menu measures option labels on a canvas (the
 * scaffold's jest setup makes getContext return undefined) and uses IntersectionObserver/ResizeObserver.
 * Role queries use `hidden: true`: it skips the per-element visibility check (getComputedStyle on every
 * ancestor), which is what makes them slow in the large @grafana/ui DOM.
 */
import { fireEvent, screen, waitFor } from '@testing-library/react';

class NoopObserver {
  observe() {}
  unobserve() {}
  disconnect() {}
  takeRecords() {
    return [];
  }
}

export function setupComboboxEnvironment() {
  for (const prop of ['clientHeight', 'clientWidth', 'offsetHeight', 'offsetWidth']) {
    Object.defineProperty(HTMLElement.prototype, prop, { configurable: true, get: () => 2000 });
  }
  HTMLCanvasElement.prototype.getContext = (() => ({
    measureText: (text: string) => ({ width: text.length * 8 }),
  })) as unknown as typeof HTMLCanvasElement.prototype.getContext;
  Object.assign(global, { IntersectionObserver: NoopObserver, ResizeObserver: NoopObserver });
}

/**
 * Options are matched on their text rather than their accessible name: computing names calls getComputedStyle for
 * pseudo elements, which is slow with the many emotion rules @grafana/ui injects.
 */
export async function findOption(match: string | RegExp | ((text: string) => boolean)): Promise<HTMLElement> {
  const test = (text: string) =>
    typeof match === 'string' ? text === match : typeof match === 'function' ? match(text) : match.test(text);
  let found: HTMLElement | undefined;
  await waitFor(() => {
    found = screen.getAllByRole('option', { hidden: true }).find((o) => test(o.textContent ?? ''));
    expect(found).toBeDefined();
  });
  return found!;
}

/** Opens the combobox and returns the texts of its options. */
export async function openOptions(input: HTMLElement): Promise<string[]> {
  fireEvent.click(input);
  const options = await screen.findAllByRole('option', { hidden: true });
  return options.map((o) => o.textContent ?? '');
}

/** Opens the combobox and clicks the option whose text is (or matches) `match`. */
export async function chooseOption(input: HTMLElement, match: string | RegExp) {
  fireEvent.click(input);
  fireEvent.click(await findOption(match));
}

/** Types a value that is not among the options and picks "Use custom value". */
export async function chooseCustomValue(input: HTMLElement, value: string) {
  fireEvent.click(input);
  fireEvent.change(input, { target: { value } });
  fireEvent.click(await findOption((text) => text.startsWith(value) && /custom value/i.test(text)));
}

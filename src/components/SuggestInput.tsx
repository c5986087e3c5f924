import React, { FocusEvent, useEffect, useId, useRef, useState } from 'react';
import { Input } from '@grafana/ui';

type InputProps = React.ComponentProps<typeof Input>;

export interface SuggestInputProps extends Omit<InputProps, 'list'> {
  /** Identifies what the suggestions are for: they are loaded on focus, and again when this changes. */
  suggestionsKey: string;
  /** Loads the suggestions; a failure leaves the list empty. */
  loadSuggestions: () => Promise<string[]>;
}

/**
 * A free-text input with suggestions (a native datalist) loaded lazily on first focus. Unlike a select, any text
 * stays editable as typed (regular expressions, `$variables`, values not seen in the data), and editing works
 * exactly like a plain input: onChange per keystroke, onBlur when done.
 */
export function SuggestInput({ suggestionsKey, loadSuggestions, onFocus, ...inputProps }: SuggestInputProps) {
  const listId = `suggestions${useId().replace(/:/g, '-')}`;
  const [loaded, setLoaded] = useState<{ key: string; values: string[] }>();
  const pending = useRef<string | undefined>(undefined);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const onInputFocus = (event: FocusEvent<HTMLInputElement>) => {
    onFocus?.(event);
    const key = suggestionsKey;
    if (loaded?.key === key || pending.current === key) {
      return;
    }
    pending.current = key;
    loadSuggestions()
      .catch(() => [])
      .then((values) => {
        if (pending.current === key) {
          pending.current = undefined;
        }
        if (mounted.current) {
          setLoaded({ key, values });
        }
      });
  };

  const values = loaded?.key === suggestionsKey ? loaded.values : [];
  return (
    <>
      <Input {...inputProps} list={listId} onFocus={onInputFocus} />
      <datalist id={listId} data-testid={inputProps.id ? `${inputProps.id}-suggestions` : undefined}>
        {values.map((value) => (
          <option key={value} value={value} />
        ))}
      </datalist>
    </>
  );
}

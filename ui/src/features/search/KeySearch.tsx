import { useEffect, useId, useRef, useState, type KeyboardEvent } from "react";
import { commands, toIpcError, type FoundKey, type KeySearch as Found } from "../../ipc";

/** How long typing pauses before the accounts are searched. */
const PAUSE_MS = 250;

type Props = {
  /** A key chosen from the results: the app opens its detail in its account. */
  onOpen: (found: FoundKey) => void;
};

/**
 * The header's search: part of a key's name or the start of its prefix, across every account of
 * the profile. Arrow keys move through the results, Enter opens one, Escape closes the list.
 */
export function KeySearch({ onOpen }: Props) {
  const [text, setText] = useState("");
  const [found, setFound] = useState<Found | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState(false);
  const [at, setAt] = useState(0);
  const listId = useId();
  const asked = useRef(0);

  useEffect(() => {
    const query = text.trim();
    if (query === "") {
      setFound(null);
      setProblem(null);
      return;
    }
    const mine = ++asked.current;
    const timer = setTimeout(() => {
      setBusy(true);
      commands
        .findKeys({ text: query })
        .then((result) => {
          if (mine !== asked.current) return; // a newer search is under way
          setFound(result);
          setProblem(null);
          setAt(0);
        })
        .catch((err) => {
          if (mine === asked.current) setProblem(toIpcError(err).message);
        })
        .finally(() => {
          if (mine === asked.current) setBusy(false);
        });
    }, PAUSE_MS);
    return () => clearTimeout(timer);
  }, [text]);

  const results = found?.found ?? [];
  const choose = (f: FoundKey) => {
    setOpen(false);
    setText("");
    onOpen(f);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === "Escape") {
      setOpen(false);
      return;
    }
    if (results.length === 0) return;
    if (e.key === "ArrowDown") {
      e.preventDefault();
      setOpen(true);
      setAt((i) => (i + 1) % results.length);
    } else if (e.key === "ArrowUp") {
      e.preventDefault();
      setAt((i) => (i - 1 + results.length) % results.length);
    } else if (e.key === "Enter") {
      e.preventDefault();
      choose(results[Math.min(at, results.length - 1)]);
    }
  };
  const showList = open && text.trim() !== "" && (found !== null || problem !== null);

  return (
    <div className="key-search">
      <input
        type="search"
        className="key-search-input"
        placeholder="Find a key in every account"
        aria-label="Find a key in every account"
        role="combobox"
        aria-expanded={showList}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={showList && results.length > 0 ? `${listId}-${at}` : undefined}
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
        onKeyDown={onKeyDown}
        spellCheck={false}
        autoComplete="off"
      />
      {showList && (
        <div className="key-search-results">
          {problem && <p className="field-error">{problem}</p>}
          {!problem && results.length === 0 && (
            <p className="muted">{busy ? "Searching…" : "No key has that name or prefix."}</p>
          )}
          <ul role="listbox" id={listId} aria-label="Keys found">
            {results.map((f, i) => (
              <li
                key={`${f.account_id}/${f.key.meta.id}`}
                id={`${listId}-${i}`}
                role="option"
                aria-selected={i === at}
                className={i === at ? "active" : undefined}
                onMouseDown={(e) => {
                  e.preventDefault(); // keep the focus until the choice is made
                  choose(f);
                }}
              >
                <span className="name">{f.key.meta.name}</span>
                <span className="mono muted">{f.key.meta.prefix ? `${f.key.meta.prefix}…` : ""}</span>
                <span className="muted account">{f.account_label}</span>
              </li>
            ))}
          </ul>
          {found && found.unread.length > 0 && (
            <p className="muted small">
              Not searched: {found.unread.map((u) => `${u.account_id} (${u.reason.message})`).join("; ")}
            </p>
          )}
        </div>
      )}
    </div>
  );
}

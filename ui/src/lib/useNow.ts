import { useEffect, useState } from "react";

/**
 * The current time, renewed every `everyMs`: for relative times ("3 minutes ago") in views that
 * otherwise render only when their data changes.
 */
export function useNow(everyMs: number): Date {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const timer = setInterval(() => setNow(new Date()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

// Who is signed in: the API key (in memory, or in this tab's sessionStorage when the
// person asks) and what the API says it may do (GET /v1/me).
import { useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

import { ApiError, api, call, setApiKey, type Schemas } from "../api/client";

export type Me = Schemas["MeOut"];

interface Session {
  me: Me | null;
  signIn(key: string, remember: boolean): Promise<void>;
  signOut(): void;
}

const SessionContext = createContext<Session | null>(null);
const STORAGE_KEY = "jobq.key";

async function whoAmI(): Promise<Me> {
  return call(api.GET("/v1/me"));
}

function rememberedKey(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function SessionProvider({ children, initial }: { children: ReactNode; initial: Me | null }) {
  const [me, setMe] = useState<Me | null>(initial);
  const queryClient = useQueryClient();

  const signIn = useCallback(async (key: string, remember: boolean) => {
    setApiKey(key);
    try {
      const who = await whoAmI();
      try {
        if (remember) window.sessionStorage.setItem(STORAGE_KEY, key);
        else window.sessionStorage.removeItem(STORAGE_KEY);
      } catch {
        // No storage: the key lasts as long as the page.
      }
      setMe(who);
    } catch (error) {
      setApiKey(null);
      throw error;
    }
  }, []);

  const signOut = useCallback(() => {
    setApiKey(null);
    try {
      window.sessionStorage.removeItem(STORAGE_KEY);
    } catch {
      // Nothing stored.
    }
    queryClient.clear();
    setMe(null);
  }, [queryClient]);

  const value = useMemo(() => ({ me, signIn, signOut }), [me, signIn, signOut]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** A key this tab remembered, checked again with the API; null when there is none or it no longer works. */
export async function restoreSession(): Promise<Me | null> {
  const key = rememberedKey();
  if (!key) return null;
  setApiKey(key);
  try {
    return await whoAmI();
  } catch (error) {
    setApiKey(null);
    if (error instanceof ApiError && error.status === 401) window.sessionStorage.removeItem(STORAGE_KEY);
    return null;
  }
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}

/** The signed-in key's rights; the server checks them again on every call. */
export function useCan(): { write: boolean; admin: boolean } {
  const { me } = useSession();
  return { write: Boolean(me?.can_write), admin: Boolean(me?.can_admin) };
}

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import { ApiError } from "./api/client";
import { SignIn } from "./pages/SignIn";
import { router } from "./router";
import { PreferencesProvider } from "./ui/preferences";
import { restoreSession, SessionProvider, useSession } from "./ui/session";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; an outage might.
      retry: (count, error) => count < 3 && !(error instanceof ApiError && error.status >= 400 && error.status < 500 && error.status !== 429),
      staleTime: 1000,
    },
  },
});

function App() {
  const { me } = useSession();
  return me ? <RouterProvider router={router} /> : <SignIn />;
}

async function start() {
  const me = await restoreSession();
  const root = document.getElementById("root");
  if (!root) throw new Error("no #root element");
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <PreferencesProvider>
          <SessionProvider initial={me}>
            <App />
          </SessionProvider>
        </PreferencesProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}

void start();

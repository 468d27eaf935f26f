import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Tauri serves ui/dist; no dev server is needed to build the app.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  test: { include: ["src/**/*.test.ts"] },
});

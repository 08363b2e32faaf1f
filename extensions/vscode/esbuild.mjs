// Bundles the extension into one file; `vscode` is provided by the editor at run time.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/extension.ts'],
  bundle: true,
  outfile: 'dist/extension.js',
  external: ['vscode'],
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  sourcemap: true,
  minify: process.argv.includes('--minify'),
  logLevel: 'info',
  // scripts/install.sh (`make vscode`) names the checkout's `codeforge` here, so the installed
  // extension finds its language server with no setting; empty for a plain build.
  define: { __CODEFORGE_INSTALLED_COMMAND__: JSON.stringify(process.env.CODEFORGE_INSTALLED_COMMAND ?? '') },
});

// Server-created work-done progress ($/progress) as cancellable notifications.
//
// vscode-languageclient shows server progress in the status bar only (ProgressLocation.Window),
// where there is no cancel button. Long platform jobs need one, so this feature takes over the
// `window/workDoneProgress/create` request. It is registered after the built-in features, whose
// `initialize` runs first on every (re)start, so its handler is the one that stays installed.
import * as vscode from 'vscode';
import { shortenIds } from './errors';
import {
  type BaseLanguageClient,
  type ClientCapabilities,
  type FeatureState,
  type ProgressToken,
  type StaticFeature,
  WorkDoneProgress,
  type WorkDoneProgressBegin,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type WorkDoneProgressReport,
} from 'vscode-languageclient/node';

export class NotificationProgressFeature implements StaticFeature {
  private readonly active = new Map<ProgressToken, vscode.Disposable>();

  constructor(
    private readonly client: BaseLanguageClient,
    private readonly log: (line: string) => void,
  ) {}

  getState(): FeatureState {
    return { kind: 'static' };
  }

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = capabilities.window ?? {};
    capabilities.window.workDoneProgress = true;
  }

  initialize(): void {
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.track(token);
    });
  }

  clear(): void {
    for (const disposable of this.active.values()) {
      disposable.dispose();
    }
    this.active.clear();
  }

  private track(token: ProgressToken): void {
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (finish = resolve));
    let reporter: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let last = 0;
    const report = (value: WorkDoneProgressBegin | WorkDoneProgressReport): void => {
      const increment = value.percentage !== undefined ? Math.max(0, value.percentage - last) : undefined;
      last = value.percentage ?? last;
      reporter?.report({ message: value.message === undefined ? undefined : shortenIds(value.message), increment });
    };
    const subscription = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === 'begin') {
        void vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: shortenIds(value.title), cancellable: value.cancellable ?? false },
          async (progress, cancellation) => {
            reporter = progress;
            report(value);
            cancellation.onCancellationRequested(() => {
              this.log(`cancel requested: ${value.title}`);
              void this.client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
            });
            await done;
          },
        );
      } else if (value.kind === 'report') {
        report(value);
      } else {
        if (value.message) {
          this.log(value.message);
        }
        end();
      }
    });
    const end = (): void => {
      finish();
      subscription.dispose();
      this.active.delete(token);
    };
    this.active.set(token, { dispose: end });
  }
}

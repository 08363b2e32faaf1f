// The prompt loop's UI in VS Code: input boxes that refuse a wrong entry and ask again, quick
// picks, and the file picker.
import * as vscode from 'vscode';
import type { InputRequest, PickItem, PromptUi } from './prompt';

class QuickPickEntry implements vscode.QuickPickItem {
  constructor(
    readonly label: string,
    readonly description: string | undefined,
    readonly item: PickItem,
  ) {}
}

export class VscodePromptUi implements PromptUi {
  input(request: InputRequest): Promise<string | undefined> {
    return new Promise((resolve) => {
      const box = vscode.window.createInputBox();
      box.title = request.title;
      box.prompt = request.prompt;
      box.placeholder = request.placeholder;
      box.value = request.value;
      box.password = request.password;
      box.ignoreFocusOut = true;
      box.validationMessage = request.error;
      let settled = false;
      const finish = (value: string | undefined): void => {
        if (!settled) {
          settled = true;
          resolve(value);
          box.dispose();
        }
      };
      // Checked on Enter rather than on every key, so a half-typed value is not called wrong;
      // a wrong entry is refused (the box stays open, saying why) and the person types again.
      box.onDidAccept(() => {
        const error = request.validate(box.value);
        if (error) {
          box.validationMessage = { message: error, severity: vscode.InputBoxValidationSeverity.Error };
          return;
        }
        finish(box.value);
      });
      box.onDidChangeValue(() => {
        box.validationMessage = undefined;
      });
      box.onDidHide(() => finish(undefined));
      box.show();
    });
  }

  async pick(title: string, placeholder: string, items: PickItem[]): Promise<PickItem | undefined> {
    const entries = items.map((i) => new QuickPickEntry(i.label, i.description, i));
    const chosen = await vscode.window.showQuickPick(entries, { title, placeHolder: placeholder, ignoreFocusOut: true });
    return chosen?.item;
  }

  async pickFile(title: string, hint: string): Promise<{ path: string; content: string } | undefined> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const defaultUri = folder && hint ? vscode.Uri.joinPath(folder, hint) : folder;
    const uris = await vscode.window.showOpenDialog({ title, defaultUri, canSelectMany: false, openLabel: 'Use this file' });
    if (!uris || uris.length === 0) {
      return undefined;
    }
    const bytes = await vscode.workspace.fs.readFile(uris[0]);
    return { path: uris[0].fsPath, content: new TextDecoder('utf-8').decode(bytes) };
  }

  refused(message: string): void {
    void vscode.window.showWarningMessage(`CodeForge: ${message}`);
  }
}

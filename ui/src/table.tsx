/** A table with a caption, column headers and a row saying so when it is empty. */
import type { ComponentChildren, JSX } from 'preact';

export function Table(props: { name: string; caption?: string; columns: readonly string[]; empty: string; rows: number; children: ComponentChildren }): JSX.Element {
  return (
    <div class="table-wrap">
      <table data-table={props.name}>
        {props.caption !== undefined && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col">{c === '' ? <span class="sr-only">Actions</span> : c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.rows === 0 && (
            <tr>
              <td colSpan={props.columns.length}>{props.empty}</td>
            </tr>
          )}
          {props.children}
        </tbody>
      </table>
    </div>
  );
}

// A repository in a module of its own, as Express apps are laid out: the route calls it, and its
// lines after an await run with no request anywhere on the stack (probes and replay still find it).
export interface Account {
  id: number;
  name: string;
}

export class AccountRepository {
  async findById(id: number): Promise<Account> {
    await new Promise((resolve) => setImmediate(resolve));
    if (!Number.isInteger(id) || id <= 0) throw new Error(`no account ${id}`);
    const account = { id, name: `account ${id}` };
    return account;
  }
}

/**
 * GitHub's published OpenAPI description (`@octokit/openapi`, generated/api.github.com.json, OpenAPI 3.0.3, 13 MB) as
 * the fake's router and validator.
 *
 * Speed: the description is parsed once per process (~150 ms) and kept only as a route table plus the operations the
 * fake implements and the components they reach (a few hundred KB). Validators are compiled with one shared Ajv on
 * first use of an operation, the components living in one schema that every operation refers to, so a component such
 * as `repository` is compiled once, not once per operation (openapi-backend dereferences every operation and compiled
 * the same set in ~3 s; this way it is ~1 s in total, spread over first uses).
 *
 * OpenAPI 3.0 is not JSON Schema: `nullable: true` becomes `anyOf: [{ type: 'null' }, <schema>]` (so it also works
 * without `type` and next to `enum`, as GitHub uses it), `example` is dropped and the formats the description uses are
 * defined here.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';

/** Where the description lives; a devDependency of the project. */
export const DESCRIPTION_PATH = require.resolve('@octokit/openapi/generated/api.github.com.json');

const METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
const COMPONENTS_ID = 'github-openapi';

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
  'x-multi-segment'?: boolean;
}

interface Reference {
  $ref: string;
}

interface Response {
  content?: Record<string, { schema?: Schema }>;
}

interface Operation {
  operationId: string;
  parameters?: (Parameter | Reference)[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, Response | Reference>;
  externalDocs?: { url: string };
}

interface Description {
  paths: Record<string, Partial<Record<(typeof METHODS)[number], Operation>>>;
  components: Record<string, Record<string, unknown>>;
}

/** A request's place in the description. */
export interface RouteMatch {
  operationId: string;
  /** The path template, e.g. `/repos/{owner}/{repo}/issues/{issue_number}`. */
  template: string;
  /** Path parameters as sent, percent-decoded (still strings: validation coerces them). */
  params: Record<string, string>;
}

interface RouteEntry {
  method: string;
  template: string;
  operationId: string;
  pattern: RegExp;
  names: string[];
  literals: number;
  multi: number;
}

/** What validateRequest returns: `errors` empty when the request is valid; path and query coerced to their types. */
export interface RequestCheck {
  errors: string[];
  path: Record<string, unknown>;
  query: Record<string, unknown>;
}

/** The router and validators over the description, for the operations given at load. */
export interface GitHubOpenApi {
  /** Every operation id the description has; `route` finds any of them, whether implemented or not. */
  readonly operationCount: number;
  /**
   * Finds the operation for `method` (any case) and `pathname` (raw, percent-encoded), the most specific template
   * winning (`/issues/comments` over `/issues/{issue_number}`); undefined if the description has none.
   */
  route(method: string, pathname: string): RouteMatch | undefined;
  /**
   * Validates path parameters, query (unknown query parameters are errors) and body against the operation;
   * `body` is undefined when the request had none.
   * @throws Error if `operationId` was not among the operations given at load.
   */
  validateRequest(operationId: string, req: { path: Record<string, string>; query: Record<string, string>; body: unknown }): RequestCheck;
  /**
   * Validates a response body against the operation's documented schema for `status`. An undocumented 4xx/5xx is
   * checked against GitHub's generic error bodies (`basic-error`, `validation-error` for 422); an undocumented
   * 1xx-3xx is an error itself. A documented status without content must have no body (`body` undefined).
   * @returns the errors, empty when the body conforms.
   * @throws Error if `operationId` was not among the operations given at load.
   */
  validateResponse(operationId: string, status: number, body: unknown): string[];
  /** The operation's documentation page on docs.github.com, for `documentation_url`. */
  docsUrl(operationId: string): string;
}

/** OpenAPI 3.0 schema -> JSON Schema for Ajv: nullable, local $refs, examples. */
function normalize(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(normalize);
  if (!node || typeof node !== 'object') return node;
  const out: Schema = {};
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key === 'example' || key === 'examples' || key === 'description' || key === 'nullable') continue;
    if (key === '$ref' && typeof value === 'string' && value.startsWith('#/')) out.$ref = `${COMPONENTS_ID}${value}`;
    else if (key === 'properties' && value && typeof value === 'object') {
      // A map of names to schemas: a property may be called "example" or "description".
      out.properties = Object.fromEntries(Object.entries(value as Schema).map(([name, s]) => [name, normalize(s)]));
    } else out[key] = normalize(value);
  }
  return (node as Schema).nullable === true ? { anyOf: [{ type: 'null' }, out] } : out;
}

/** Collects the components that `node` reaches through $refs, transitively, into `into`. */
function collectComponents(node: unknown, description: Description, into: Record<string, Record<string, unknown>>): void {
  if (Array.isArray(node)) {
    for (const item of node) collectComponents(item, description, into);
    return;
  }
  if (!node || typeof node !== 'object') return;
  for (const [key, value] of Object.entries(node as Schema)) {
    if (key === 'examples' || key === 'example') continue;
    if (key === '$ref' && typeof value === 'string') {
      const [, , kind, name] = value.split('/');
      if (!kind || !name || into[kind]?.[name] !== undefined) continue;
      const target = description.components[kind]?.[name];
      if (target === undefined) throw new Error(`OpenAPI description: dangling $ref ${value}`);
      (into[kind] ??= {})[name] = target;
      collectComponents(target, description, into);
    } else collectComponents(value, description, into);
  }
}

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function newAjv(coerceTypes: boolean): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, logger: false, coerceTypes, validateSchema: false });
  ajv.addFormat('date-time', DATE_TIME);
  ajv.addFormat('date', /^\d{4}-\d{2}-\d{2}$/);
  ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:[^\s]*$/i);
  ajv.addFormat('uri-template', true);
  ajv.addFormat('email', /^[^\s@]+@[^\s@]+$/);
  ajv.addFormat('repo.nwo', /^[^/\s]+\/[^/\s]+$/);
  ajv.addFormat('timestamp', true);
  ajv.addFormat('binary', true);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
  ajv.addFormat('double', { type: 'number', validate: () => true });
  return ajv;
}

function describe(errors: ErrorObject[] | null | undefined, root: string): string[] {
  return (errors ?? []).map((e) => {
    const at = `${root}${e.instancePath}`.replace(/^\//, '') || root || 'request';
    if (e.keyword === 'additionalProperties') return `${at} has unknown property '${String(e.params.additionalProperty)}'`;
    if (e.keyword === 'enum') return `${at} must be one of ${JSON.stringify(e.params.allowedValues)}`;
    return `${at} ${e.message ?? 'is invalid'}`;
  });
}

function compileRoutes(description: Description): RouteEntry[] {
  const routes: RouteEntry[] = [];
  for (const [template, item] of Object.entries(description.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op?.operationId) continue;
      const multiSegment = new Set(
        (op.parameters ?? [])
          .map((p) => ('$ref' in p ? (resolveRef(description, p.$ref) as Parameter) : p))
          .filter((p) => p['x-multi-segment'])
          .map((p) => p.name),
      );
      const names: string[] = [];
      let literals = 0;
      let multi = 0;
      const source = template
        .split('/')
        .map((segment) => {
          if (!segment.includes('{')) {
            if (segment) literals++;
            return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          }
          return segment
            .split(/(\{[^}]+\})/)
            .map((part) => {
              const name = /^\{([^}]+)\}$/.exec(part)?.[1];
              if (!name) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
              names.push(name);
              if (multiSegment.has(name)) {
                multi++;
                return '(.+?)';
              }
              return '([^/]+?)';
            })
            .join('');
        })
        .join('/');
      routes.push({ method, template, operationId: op.operationId, pattern: new RegExp(`^${source}/?$`), names, literals, multi });
    }
  }
  // Most specific first: more literal segments, then fewer multi-segment parameters.
  return routes.sort((a, b) => b.literals - a.literals || a.multi - b.multi);
}

function resolveRef(description: Description, ref: string): unknown {
  const [, , kind, name] = ref.split('/');
  const target = kind && name ? description.components[kind]?.[name] : undefined;
  if (target === undefined) throw new Error(`OpenAPI description: dangling $ref ${ref}`);
  return target;
}

interface OperationValidators {
  request?: ValidateFunction;
  body?: ValidateFunction;
  bodyRequired: boolean;
  responses: Map<string, ValidateFunction | 'empty'>;
}

class Validators implements GitHubOpenApi {
  readonly operationCount: number;
  private readonly routes: RouteEntry[];
  private readonly operations = new Map<string, Operation>();
  private readonly components: Record<string, Record<string, unknown>>;
  private readonly compiled = new Map<string, OperationValidators>();
  private readonly ajv = newAjv(false);
  private readonly paramsAjv = newAjv(true);
  private readonly generic: { error: ValidateFunction; validation: ValidateFunction };

  constructor(description: Description, implemented: readonly string[]) {
    this.routes = compileRoutes(description);
    this.operationCount = this.routes.length;
    const wanted = new Set(implemented);
    for (const item of Object.values(description.paths)) {
      for (const method of METHODS) {
        const op = item[method];
        if (op && wanted.has(op.operationId)) this.operations.set(op.operationId, op);
      }
    }
    const missing = implemented.filter((id) => !this.operations.has(id));
    if (missing.length) throw new Error(`OpenAPI description has no operation ${missing.join(', ')}`);
    const components: Record<string, Record<string, unknown>> = {};
    collectComponents([...this.operations.values()], description, components);
    for (const name of ['basic-error', 'validation-error']) {
      collectComponents({ $ref: `#/components/schemas/${name}` }, description, components);
    }
    this.components = components;
    const normalized = { $id: COMPONENTS_ID, components: normalize(components) };
    this.ajv.addSchema(normalized);
    this.paramsAjv.addSchema(normalized);
    this.generic = {
      error: this.ajv.compile({ $ref: `${COMPONENTS_ID}#/components/schemas/basic-error` }),
      validation: this.ajv.compile({ $ref: `${COMPONENTS_ID}#/components/schemas/validation-error` }),
    };
  }

  route(method: string, pathname: string): RouteMatch | undefined {
    const m = method.toLowerCase();
    for (const r of this.routes) {
      if (r.method !== m) continue;
      const hit = r.pattern.exec(pathname);
      if (!hit) continue;
      const params: Record<string, string> = {};
      try {
        r.names.forEach((name, i) => (params[name] = decodeURIComponent(hit[i + 1] ?? '')));
      } catch {
        return undefined; // malformed percent-encoding: no route GitHub would serve either
      }
      return { operationId: r.operationId, template: r.template, params };
    }
    return undefined;
  }

  docsUrl(operationId: string): string {
    return this.operations.get(operationId)?.externalDocs?.url ?? 'https://docs.github.com/rest';
  }

  validateRequest(operationId: string, req: { path: Record<string, string>; query: Record<string, string>; body: unknown }): RequestCheck {
    const v = this.validators(operationId);
    const data = { path: { ...req.path }, query: { ...req.query } as Record<string, unknown> };
    const errors: string[] = [];
    if (v.request && !v.request(data)) errors.push(...describe(v.request.errors, ''));
    if (req.body === undefined) {
      if (v.bodyRequired) errors.push('requestBody is required');
    } else if (!v.body) {
      errors.push('requestBody is not accepted by this operation');
    } else if (!v.body(req.body)) {
      errors.push(...describe(v.body.errors, 'requestBody'));
    }
    return { errors, path: data.path, query: data.query };
  }

  validateResponse(operationId: string, status: number, body: unknown): string[] {
    const v = this.validators(operationId);
    const validate = v.responses.get(String(status)) ?? v.responses.get(`${String(status)[0]}XX`) ?? v.responses.get('default');
    if (validate === 'empty') return body === undefined ? [] : [`response ${status} is documented without a body`];
    if (validate) return validate(body) ? [] : describe(validate.errors, 'response');
    if (status < 400) return [`status ${status} is not documented for ${operationId}`];
    const generic = status === 422 ? this.generic.validation : this.generic.error;
    return generic(body) ? [] : describe(generic.errors, 'response');
  }

  private validators(operationId: string): OperationValidators {
    const cached = this.compiled.get(operationId);
    if (cached) return cached;
    const op = this.operations.get(operationId);
    if (!op) throw new Error(`the fake has no validators for ${operationId}`);
    const params = (op.parameters ?? []).map((p) => ('$ref' in p ? (this.component(p.$ref) as Parameter) : p));
    const group = (where: 'path' | 'query'): Schema => ({
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(params.filter((p) => p.in === where).map((p) => [p.name, normalize(p.schema ?? {})])),
      required: params.filter((p) => p.in === where && p.required).map((p) => p.name),
    });
    const bodySchema = op.requestBody?.content['application/json']?.schema;
    const responses = new Map<string, ValidateFunction | 'empty'>();
    for (const [status, r] of Object.entries(op.responses)) {
      const response = ('$ref' in r ? this.component(r.$ref) : r) as Response;
      const schema = response.content?.['application/json']?.schema;
      if (schema) responses.set(status, this.ajv.compile(normalize(schema) as Schema));
      else if (!response.content) responses.set(status, 'empty');
    }
    const compiled: OperationValidators = {
      request: this.paramsAjv.compile({ type: 'object', properties: { path: group('path'), query: group('query') } }),
      body: bodySchema ? this.ajv.compile(normalize(bodySchema) as Schema) : undefined,
      bodyRequired: op.requestBody?.required === true,
      responses,
    };
    this.compiled.set(operationId, compiled);
    return compiled;
  }

  private component(ref: string): unknown {
    const [, , kind, name] = ref.split('/');
    const target = kind && name ? this.components[kind]?.[name] : undefined;
    if (target === undefined) throw new Error(`OpenAPI description: dangling $ref ${ref}`);
    return target;
  }
}

const loaded = new Map<string, GitHubOpenApi>();

/**
 * The router and validators for `implemented` (operation ids), built once per process and set of ids.
 * @throws Error if the description cannot be read, or lacks one of the ids.
 */
export function loadGitHubOpenApi(implemented: readonly string[]): GitHubOpenApi {
  const key = [...implemented].sort().join(',');
  let api = loaded.get(key);
  if (!api) {
    const description = JSON.parse(readFileSync(DESCRIPTION_PATH, 'utf8')) as Description;
    api = new Validators(description, implemented);
    loaded.set(key, api);
  }
  return api;
}

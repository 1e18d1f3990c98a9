/**
 * Checks real answers against the server's own OpenAPI document: the status must be one the
 * operation documents, the content type one it lists, the body valid against its schema
 * (ajv, JSON Schema 2020-12: the dialect of OpenAPI 3.1).
 */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020.js";

interface MediaType { schema?: unknown }
interface Operation { operationId?: string; security?: Record<string, string[]>[]; tags?: string[]; responses: Record<string, { content?: Record<string, MediaType> }> }
export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, unknown>; securitySchemes?: Record<string, unknown> };
}

const COMPONENTS = "urn:cmdaudit:components";

export interface Contract {
  /** Throws unless `res` is an answer the document gives for this operation (path as in the document). */
  checkAnswer(method: string, path: string, res: Response): Promise<void>;
  /** Throws unless `value` is valid against the component schema `name`. */
  checkComponent(name: string, value: unknown): void;
}

export function contractOf(doc: OpenApiDocument): Contract {
  const ajv = new Ajv2020({ allErrors: true });
  // OpenAPI's annotation keywords on top of JSON Schema.
  ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
  // The document's "#/components/schemas/X" refs, pointed at one schema holding them all.
  const local = (v: unknown) => JSON.parse(JSON.stringify(v).replaceAll('"#/components/schemas/', `"${COMPONENTS}#/$defs/`)) as object;
  ajv.addSchema({ $id: COMPONENTS, $defs: local(doc.components?.schemas ?? {}) });
  const compiled = new Map<string, ValidateFunction>();

  const checkAnswer = async (method: string, path: string, res: Response) => {
    const where = `${method.toUpperCase()} ${path} → ${res.status}`;
    const op = doc.paths[path]?.[method.toLowerCase()];
    if (!op) throw new Error(`${where}: the document has no such operation`);
    const answer = op.responses[String(res.status)] ?? op.responses[`${String(res.status)[0]}XX`] ?? op.responses.default;
    if (!answer) throw new Error(`${where}: status not documented (documented: ${Object.keys(op.responses).join(", ")})`);
    const type = (res.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    const media = answer.content?.[type];
    if (!media) throw new Error(`${where}: content type ${JSON.stringify(type)} not documented (documented: ${Object.keys(answer.content ?? {}).join(", ")})`);
    const text = await res.text();
    let body: unknown = text;
    if (type === "application/json") {
      try {
        body = JSON.parse(text);
      } catch {
        throw new Error(`${where}: the body is not JSON: ${text.slice(0, 100)}`);
      }
    }
    const key = `${where} ${type}`;
    let validate = compiled.get(key);
    if (!validate) compiled.set(key, validate = ajv.compile(local(media.schema ?? {})));
    if (!validate(body)) throw new Error(`${where}: the body does not match the document: ${ajv.errorsText(validate.errors)}\n${text.slice(0, 300)}`);
  };
  const checkComponent = (name: string, value: unknown) => {
    const validate = ajv.getSchema(`${COMPONENTS}#/$defs/${name}`);
    if (!validate) throw new Error(`the document has no component schema ${name}`);
    if (!validate(value)) throw new Error(`not a ${name}: ${ajv.errorsText(validate.errors)}`);
  };
  return { checkAnswer, checkComponent };
}

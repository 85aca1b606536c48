/** Reading an instance a registry stores as JSON under a key of its service and id. */
import { MalformedRecordError } from '../core/errors.js';
import { parseInstanceRecord, type ServiceInstance } from '../core/instance.js';

/**
 * The instance that `json`, found at `location` under `service` and `id`, describes, or the
 * {@link MalformedRecordError} saying why it is skipped: not JSON, not a valid instance, or one
 * that describes another instance (a record copied under another key is not the instance it names).
 */
export function storedInstance(json: string, location: string, service: string, id: string): ServiceInstance | MalformedRecordError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    // JSON.parse's message quotes the input: only the location and the problem are reported.
    return new MalformedRecordError(location, 'not valid JSON');
  }
  let instance: ServiceInstance;
  try {
    instance = parseInstanceRecord(parsed, location);
  } catch (error) {
    if (error instanceof MalformedRecordError) return error;
    throw error;
  }
  if (instance.id !== id || instance.service !== service) {
    return new MalformedRecordError(location, `the record describes ${instance.service}/${instance.id}, not ${service}/${id}`);
  }
  return instance;
}

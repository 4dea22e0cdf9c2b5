/** A framework-neutral HTTP answer: adapters copy it onto their response and nothing else. */
export interface EndpointAnswer {
  status: number;
  headers: ReadonlyArray<readonly [string, string]>;
  body: string;
}

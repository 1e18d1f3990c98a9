/** Stylesheets are imported as their text (`with { type: "text" }`). */
declare module "*.css" {
  const text: string;
  export default text;
}
